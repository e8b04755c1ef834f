// The error table in src/errors.ts and the one in the README say the same thing (docs/architecture.md §4).
import { readFileSync } from "node:fs";
import t from "tap";
import { ERRORS } from "../src/errors.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

t.test("every code is documented with its HTTP status, RTMP statuses and metric reason", async (t) => {
  const rows = new Map<string, string[]>();
  for (const line of readme.split("\n")) {
    const m = /^\| `(EDGE_ERR_[A-Z_]+)` \|(.*)\|$/.exec(line);
    if (m)
      rows.set(
        m[1],
        m[2].split("|").map((c) => c.trim()),
      );
  }
  t.same([...rows.keys()].sort(), Object.keys(ERRORS).sort(), "same codes in both tables");
  for (const [code, spec] of Object.entries(ERRORS)) {
    const [http, publish, play, reason, message] = rows.get(code) ?? [];
    t.same(
      { http, publish, play, reason, message },
      { http: String(spec.http), publish: spec.rtmpPublish ?? "—", play: spec.rtmpPlay ?? "—", reason: `\`${spec.reason}\``, message: spec.message },
      code,
    );
  }
});

t.test("metric reasons are unique and label-safe", async (t) => {
  const reasons = Object.values(ERRORS).map((e) => e.reason);
  t.equal(new Set(reasons).size, reasons.length);
  for (const r of reasons) t.match(r, /^[a-z_]+$/);
});
