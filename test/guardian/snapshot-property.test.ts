// Property test (issue 5 Tests, docs/reliability.md §6 E1): the compiled snapshot decides exactly as a
// brute-force loop over the rules, on random rule sets, addresses (v4, v6, and each v4 address
// in the three IPv4-mapped spellings), referrers, countries, scopes, modes and expiry times.
import t from "tap";
import fc from "fast-check";
import { formatV4, formatV6, parseNetwork } from "../../src/primitives/ip.js";
import type { Rule, RuleAction } from "../../src/guardian/rules.js";
import { compile, decide, type DecideRequest } from "../../src/guardian/snapshot.js";
import { referenceDecide } from "./reference.js";

const NOW = 1_700_000_000_000;

// Few anchor addresses: rules are anchors cut to a random prefix, so they overlap, nest and
// repeat, and the addresses drawn around their edges fall into several of them at once.
const v4Anchor = fc.constantFrom(0x0a010203, 0x0a01c807, 0x0a800001, 0xc0a80101, 0x00000000, 0xffffffff, 0x7f000001);
const v6Anchor = fc.constantFrom(
  (0x20010db8n << 96n) | 1n,
  (0x20010db8n << 96n) | (0xabcdn << 64n) | 0x42n,
  (0x20010db8n << 96n) | (0x8000n << 48n),
  0n,
  (1n << 128n) - 1n,
  (0xfe80n << 112n) | 7n,
);

const v4Net = fc.tuple(v4Anchor, fc.integer({ min: 0, max: 32 }), fc.boolean()).map(([anchor, prefix, mapped]) => {
  const size = 2 ** (32 - prefix);
  const start = anchor - (anchor % size);
  // Some rules are written IPv4-mapped: they must act as IPv4 rules.
  if (mapped) return `::ffff:${formatV4(start)}/${prefix + 96}`;
  return prefix === 32 ? formatV4(start) : `${formatV4(start)}/${prefix}`;
});

const v6Net = fc.tuple(v6Anchor, fc.integer({ min: 0, max: 128 })).map(([anchor, prefix]) => {
  const start = anchor & ~((1n << BigInt(128 - prefix)) - 1n);
  return prefix === 128 ? formatV6(start) : `${formatV6(start)}/${prefix}`;
});

const hosts = ["example.com", "a.example.com", "b.a.example.com", "x.b.a.example.com", "example.org", "a.example.org", "com", "cdn.com"];
const domainRule = fc.oneof(
  { weight: 1, arbitrary: fc.constant("*") },
  { weight: 4, arbitrary: fc.constantFrom("*.example.com", "*.a.example.com", "*.com", "*.org", ...hosts) },
);

const scope = fc.constantFrom({}, {}, { stream: "s1" }, { stream: "s2" }, { tag: "t1" }, { tag: "t2" });
const actions = fc.constantFrom<RuleAction[]>(["play"], ["publish"], ["play", "publish"]);

const ruleArb = fc.record({
  kindValue: fc.oneof(
    { weight: 3, arbitrary: v4Net.map((v) => ["ip", v] as const) },
    { weight: 2, arbitrary: v6Net.map((v) => ["ip", v] as const) },
    { weight: 2, arbitrary: domainRule.map((v) => ["referer", v] as const) },
    { weight: 1, arbitrary: fc.constantFrom("DE", "US", "CN", "*").map((v) => ["country", v] as const) },
  ),
  type: fc.constantFrom<"deny" | "allow">("deny", "allow"),
  actions,
  scope,
  report: fc.integer({ min: 0, max: 4 }),
  expiry: fc.option(fc.integer({ min: -10, max: 100 }), { nil: undefined }),
  createdAt: fc.integer({ min: 0, max: 5 }),
});

const mappedForms = (v4: string) => {
  const n = v4.split(".").map(Number);
  const hi = ((n[0] << 8) | n[1]).toString(16);
  const lo = ((n[2] << 8) | n[3]).toString(16);
  return [v4, `::ffff:${v4}`, `::ffff:${hi}:${lo}`, `0:0:0:0:0:ffff:${hi}:${lo}`, `::FFFF:${hi.toUpperCase()}:${lo}`];
};

/** Client addresses near the rules' edges: inside, at the first and last address, just outside. */
function addressesFor(rules: readonly Rule[], rnd: () => number): string[][] {
  const out: string[][] = [["garbage"], ["203.0.113.9", ...mappedForms("203.0.113.9").slice(1)], ["2001:db8::1"]];
  for (const r of rules) {
    if (r.kind !== "ip") continue;
    const parsed = parseNetwork(r.value);
    if (!parsed.ok) throw new Error(parsed.reason);
    const [addr, prefixText] = parsed.text.split("/");
    if (addr.includes(":")) {
      const prefix = prefixText === undefined ? 128 : Number(prefixText);
      const base = BigInt("0x" + expand6(addr));
      const size = 1n << BigInt(128 - prefix);
      const offsets = [0n, size - 1n, size, -1n, BigInt(Math.floor(rnd() * 1e9)) % size];
      for (const o of offsets) {
        const a = base + o;
        if (a >= 0n && a < 1n << 128n) out.push([formatV6(a)]);
      }
    } else {
      const prefix = prefixText === undefined ? 32 : Number(prefixText);
      const base = addr.split(".").reduce((acc, x) => acc * 256 + Number(x), 0);
      const size = 2 ** (32 - prefix);
      for (const o of [0, size - 1, size, -1, Math.floor(rnd() * size)]) {
        const a = base + o;
        if (a >= 0 && a < 2 ** 32) out.push(mappedForms(formatV4(a)));
      }
    }
  }
  return out;
}

function expand6(addr: string): string {
  const [head, tail = ""] = addr.split("::");
  const h = head ? head.split(":") : [];
  const tl = tail ? tail.split(":") : [];
  const groups = addr.includes("::") ? [...h, ...Array<string>(8 - h.length - tl.length).fill("0"), ...tl] : h;
  return groups.map((g) => g.padStart(4, "0")).join("");
}

const referers = [
  undefined,
  undefined,
  undefined,
  "",
  ...hosts.map((h) => `https://${h}/player.html`),
  "http://A.Example.COM:8080/x",
  "https://evil.com/?r=https://example.com/",
  "https://example.com.evil.net/",
];

let cases = 0;
let mismatches = 0;
const outcomes: Record<string, number> = {};

t.test("compiled decisions equal the brute-force reference", async (t) => {
  fc.assert(
    fc.property(
      fc.array(ruleArb, { minLength: 0, maxLength: 24 }),
      fc.array(
        fc.record({
          stream: fc.constantFrom("s1", "s2", "s3"),
          tags: fc.subarray(["t1", "t2", "t3"]),
          action: fc.constantFrom<RuleAction>("play", "publish"),
          country: fc.constantFrom("DE", "US", "CN", undefined),
          referer: fc.constantFrom(...referers),
          origin: fc.constantFrom(undefined, undefined, "https://a.example.com", "https://cdn.com"),
          later: fc.integer({ min: 0, max: 120 }),
          allowMissingReferer: fc.boolean(),
        }),
        { minLength: 8, maxLength: 8 },
      ),
      fc.integer(),
      (specs, queries, seed) => {
        const rules: Rule[] = specs.map((s, i) => ({
          id: `r${i}`,
          kind: s.kindValue[0],
          value: s.kindValue[1],
          type: s.type,
          actions: s.actions,
          scope: s.scope,
          mode: s.report === 0 ? "report" : "enforce",
          createdAt: s.createdAt,
          source: "api",
          ...(s.expiry !== undefined && { expiresAt: NOW + s.expiry * 1000 }),
        }));
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
