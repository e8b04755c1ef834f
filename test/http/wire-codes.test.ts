// The compatibility wire codes (src/http/wire-codes.ts) and the README's table say the same thing,
// cell by cell, as test/errors.test.ts does for EDGE_ERR_* (issue 11 §7).
import { readFileSync } from "node:fs";
import t from "tap";
import { WIRE_CODES, type WireFamily, type WireSpec } from "../../src/http/wire-codes.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const FAMILIES = Object.keys(WIRE_CODES) as WireFamily[];

const entries = (): [string, WireSpec][] =>
  FAMILIES.flatMap((family) =>
    Object.entries(WIRE_CODES[family] as Record<string, WireSpec>).map(([kind, spec]): [string, WireSpec] => [`${family} ${kind}`, spec]),
  );

t.test("every compatibility code is documented with its code, HTTP status, message and when", async (t) => {
  const rows = new Map<string, string[]>();
  for (const line of readme.split("\n")) {
    const m = /^\| (bintu|guardian|splay) \| `([a-z_]+)` \|(.*)\|$/.exec(line);
    if (!m) continue;
    const key = `${m[1]} ${m[2]}`;
    t.notOk(rows.has(key), `${key} is listed once`);
    rows.set(
      key,
      m[3].split("|").map((c) => c.trim()),
    );
  }
  t.same(
    [...rows.keys()].sort(),
    entries()
      .map(([key]) => key)
      .sort(),
    "same rows in both tables",
  );
  for (const [key, spec] of entries()) {
    const [code, http, message, when] = rows.get(key) ?? [];
    t.same({ code, http, message, when }, { code: String(spec.code), http: String(spec.http), message: spec.message, when: spec.when }, key);
  }
});

t.test("codes are positive integers with a client or server error status", async (t) => {
  for (const [key, spec] of entries()) {
    t.ok(Number.isInteger(spec.code) && spec.code > 0, `${key}: code`);
    t.ok(spec.http >= 400 && spec.http < 600, `${key}: HTTP ${spec.http}`);
    t.notMatch(spec.message + spec.when, /\|/, `${key}: no cell separator in the text`);
  }
});
