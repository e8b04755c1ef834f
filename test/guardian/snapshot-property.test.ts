// Property test (issue 5 Tests, docs/reliability.md §6 E1): the compiled snapshot decides exactly as a
// brute-force loop over the rules, on random rule sets, addresses (v4, v6, and each v4 address
// in the three IPv4-mapped spellings), referrers, countries, scopes, modes and expiry times.
import t from "tap";
import fc from "fast-check";
import { formatV4, formatV6 } from "../../src/primitives/ip.js";
import type { Rule } from "../../src/guardian/rules.js";
import { compile, decide, type DecideRequest } from "../../src/guardian/snapshot.js";
import { addressesFor, NOW, queryArb, ruleArb, ruleOf } from "./arbitraries.js";
import { referenceDecide } from "./reference.js";
let cases = 0;
let mismatches = 0;
const outcomes: Record<string, number> = {};

t.test("compiled decisions equal the brute-force reference", async (t) => {
  fc.assert(
    fc.property(
      fc.array(ruleArb, { minLength: 0, maxLength: 24 }),
      fc.array(queryArb, { minLength: 8, maxLength: 8 }),
      fc.integer(),
      (specs, queries, seed) => {
        const rules: Rule[] = specs.map((s, i) => ruleOf(s, `r${i}`));
        const snap = compile(rules, NOW);
        let x = seed;
        const rnd = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) < 0 ? -x : x) / 2 ** 31;
        let k = 0;
        for (const forms of addressesFor(snap.rules, rnd)) {
          for (const ip of forms) {
            // Each address meets another request context: stream, tags, referrer, country, time.
            const q = queries[k++ % queries.length];
            const req: DecideRequest = { ...q, ip, nowMs: NOW + q.later * 1000 };
            const expected = referenceDecide(rules, req, q.allowMissingReferer);
            const got = decide(snap, req, { allowMissingReferer: q.allowMissingReferer });
            const gotFlat = got.allow
              ? { allow: true, reportedRuleIds: [...got.reportedRuleIds] }
              : { allow: false, ruleId: got.ruleId, kind: got.kind, reportedRuleIds: [] };
            cases++;
            const outcome = got.allow ? (got.reportedRuleIds.length > 0 ? "allow+reported" : "allow") : `deny:${got.kind}`;
            outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
            if (JSON.stringify(gotFlat) !== JSON.stringify(expected)) {
              mismatches++;
              throw new Error(
                `mismatch for ${ip}: got ${JSON.stringify(gotFlat)}, expected ${JSON.stringify(expected)}\nrules ${JSON.stringify(rules)}\nreq ${JSON.stringify(req)}`,
              );
            }
          }
        }
      },
    ),
    { seed: 5005, numRuns: 400 },
  );
  t.comment(`outcomes ${JSON.stringify(outcomes)}`);
  for (const o of ["allow", "allow+reported", "deny:ip", "deny:referer", "deny:country"]) t.ok(outcomes[o] > 100, `${o} covered`);
  t.equal(mismatches, 0, `0 mismatches over ${cases} cases`);
  t.ok(cases >= 2000, `at least 2,000 cases (${cases})`);
});

// Large tables: the bucket index (≥ 256 segments) and the radix sort (≥ 4,096 ranges of a family).
const anyV4 = fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 8, max: 32 })).map(([a, p]) => {
  const start = a - (a % 2 ** (32 - p));
  return p === 32 ? formatV4(start) : `${formatV4(start)}/${p}`;
});
const anyV6 = fc.tuple(fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }), fc.integer({ min: 12, max: 128 })).map(([a, p]) => {
  const start = ((0x2001n << 112n) | (a << 64n) | a) & ~((1n << BigInt(128 - p)) - 1n);
  return p === 128 ? formatV6(start) : `${formatV6(start)}/${p}`;
});

function checkLarge(values: readonly string[], types: readonly ("deny" | "allow")[], sample: number): number {
  const rules: Rule[] = values.map((value, i) => ({
    id: `r${i}`,
    kind: "ip",
    value,
    type: types[i % types.length],
    actions: ["play"],
    scope: {},
    mode: "enforce",
    createdAt: i,
    source: "api",
  }));
  const snap = compile(rules, NOW);
  let x = values.length;
  const rnd = () => (x = (x * 48271) % 2147483647) / 2147483647;
  const forms = addressesFor(
    snap.rules.filter((_, i) => i % sample === 0),
    rnd,
  ).flat();
  for (const ip of forms) {
    const req: DecideRequest = { action: "play", ip, stream: "s", tags: [], nowMs: NOW };
    const expected = referenceDecide(rules, req, true);
    const got = decide(snap, req, { allowMissingReferer: true });
    if (got.allow !== expected.allow || (!got.allow && got.ruleId !== expected.ruleId)) {
      throw new Error(`mismatch for ${ip}: got ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
    }
  }
  return forms.length;
}

t.test("large tables equal the brute-force reference", async (t) => {
  let checked = 0;
  fc.assert(
    fc.property(
      fc.array(fc.oneof(anyV4, anyV6), { minLength: 600, maxLength: 1500 }),
      fc.array(fc.constantFrom<"deny" | "allow">("deny", "allow"), { minLength: 1, maxLength: 50 }),
      (values, types) => void (checked += checkLarge(values, types, 7)),
    ),
    { seed: 7007, numRuns: 6 },
  );
  t.ok(checked > 1000, `${checked} addresses against tables of 600-1,500 rules (bucket index)`);
  const big = fc.sample(fc.oneof(anyV4, anyV6), { seed: 7008, numRuns: 12_000 });
  const n = checkLarge(big, ["deny", "allow", "deny"], 199);
  t.pass(`${n} addresses against one table of 12,000 rules (radix sort)`);
});
