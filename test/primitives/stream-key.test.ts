// What a client names (issue 3 §3): stream keys, queries and play paths, parsed the same way for
// RTMP and HTTP. The refusals are spelt in src/primitives (a leaf, docs/layers.md); they must stay
// codes of src/errors.ts.
import t from "tap";
import { ERRORS, type ErrorCode } from "../../src/errors.js";
import { parsePlayPath, parseQuery, parseStreamKey, type NameRefusal } from "../../src/primitives/stream-key.js";

// Compile time: every refusal is an ErrorCode (tsc fails here if one is not).
const asCode = (r: NameRefusal): ErrorCode => r;

t.test("refusals are codes of the error table", async (t) => {
  const all: NameRefusal[] = ["EDGE_ERR_BAD_NAME", "EDGE_ERR_BAD_QUERY", "EDGE_ERR_BAD_APP"];
  for (const r of all) t.ok(asCode(r) in ERRORS, r);
});

t.test("stream keys: the name before `?`, the rest is custom data", async (t) => {
  t.same(parseStreamKey("AbCdE-12345?token=x&a=1"), { ok: true, value: { name: "AbCdE-12345", query: { token: "x", a: "1" } } });
  t.same(parseStreamKey("AbCdE-12345"), { ok: true, value: { name: "AbCdE-12345", query: {} } });
  for (const bad of ["", "a/b", "a.b", "a b", "ä", "x".repeat(129), 42, undefined]) {
    t.same(parseStreamKey(bad), { ok: false, error: "EDGE_ERR_BAD_NAME" }, `refused: ${JSON.stringify(bad)}`);
  }
  t.same(parseStreamKey("a?k=1&k=2"), { ok: false, error: "EDGE_ERR_BAD_QUERY" }, "a repeated key");
  t.same(parseQuery(`k=${"v".repeat(2048)}`), { ok: false, error: "EDGE_ERR_BAD_QUERY" }, "an oversized query");
  t.same(parseQuery("k=%00"), { ok: true, value: { k: "\0" } }, "a decoded NUL is a value, not the raw byte");
  t.same(parseQuery("k=\0"), { ok: false, error: "EDGE_ERR_BAD_QUERY" });
});

t.test("play paths: matched on the raw URL, before percent-decoding", async (t) => {
  t.same(parsePlayPath("/live/AbCdE-12345.flv?jwtoken=t", true), { ok: true, value: { app: "live", name: "AbCdE-12345", query: { jwtoken: "t" } } });
  t.same(parsePlayPath("/live/AbCdE-12345", false), { ok: true, value: { app: "live", name: "AbCdE-12345", query: {} } });
  t.equal(parsePlayPath("/live/AbCdE-12345", true), null, "not .flv where one is required");
  t.equal(parsePlayPath("/favicon.ico", false), null, "not a play path");
  t.same(parsePlayPath("/live/a%2Eb.flv", true), { ok: false, error: "EDGE_ERR_BAD_NAME" });
  t.same(parsePlayPath("/li%2Fve/a.flv", true), { ok: false, error: "EDGE_ERR_BAD_APP" });
  t.same(parsePlayPath("/live/a.flv?x=1&x=2", true), { ok: false, error: "EDGE_ERR_BAD_QUERY" });
});
