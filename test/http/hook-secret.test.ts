// sameSecret (src/http/hook-routes.ts): the hooks' constant-time secret comparison that replaced
// SHA-256 + timingSafeEqual for speed (issue 14 §9) answers exactly as string equality does.
import fc from "fast-check";
import t from "tap";
import { sameSecret } from "../../src/http/hook-routes.js";

t.test("equal iff the strings are equal, for any candidate against any non-empty secret", async (t) => {
  const text = fc.string({ unit: "grapheme", maxLength: 40 });
  fc.assert(
    fc.property(
      text,
      text.filter((s) => s !== ""),
      (candidate, secret) => sameSecret(candidate, secret) === (candidate === secret),
    ),
    { numRuns: 5000 },
  );
  // The secret read cyclically never makes a repetition of it, a prefix or an extension equal.
  for (const [candidate, secret] of [
    ["abab", "ab"],
    ["ab", "abab"],
    ["a", "ab"],
    ["abc", "ab"],
    ["", "ab"],
    ["\u0000", "\u0000\u0000"],
  ]) {
    t.equal(sameSecret(candidate, secret), false, `${JSON.stringify(candidate)} vs ${JSON.stringify(secret)}`);
  }
  t.equal(sameSecret("s3cr3t-é", "s3cr3t-é"), true);
  t.equal(sameSecret("", ""), false, "an empty secret is no secret: nothing matches it");
});
