// formPairs (src/hooks/types.ts) is a faster spelling of `[...new URLSearchParams(raw)]` for hook
// forms and queries (issue 14 §9): it must give the very same pairs for any input, escapes that
// decode, escapes that do not, `+`, a leading `?`, empty parts and surrogates included.
import t from "tap";
import fc from "fast-check";
import { formPairs } from "../../src/hooks/types.js";

const pieces = [
  "a",
  "b",
  "=",
  "&",
  "%",
  "2",
  "F",
  "+",
  "?",
  "é",
  "%C3",
  "%A9",
  "%2B",
  "%26",
  "%3D",
  "%ED%A0%80",
  "%zz",
  "%FF",
  " ",
  "\0",
  "\uD83D\uDE00",
  "\uD800",
];

t.test("formPairs answers as URLSearchParams does", async (t) => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 40 }), (parts) => {
      const raw = parts.join("");
      t.same(formPairs(raw), [...new URLSearchParams(raw)], raw);
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (raw) => t.same(formPairs(raw), [...new URLSearchParams(raw)])),
    { numRuns: 2000 },
  );
});

t.test("an nginx-rtmp form, field for field", async (t) => {
  const form = "app=live&flashver=LNX%209%2C0%2C124%2C2&swfurl=&tcurl=rtmp%3A%2F%2F127.0.0.1%3A1935%2Flive&addr=198.51.100.7&name=a+b&call=play&x";
  t.same(formPairs(form), [...new URLSearchParams(form)]);
  t.same(formPairs(form).slice(1, 2), [["flashver", "LNX 9,0,124,2"]]);
});
