// Random Guardian rules, requests and client addresses for the property tests (snapshot-property,
// layers-property): few anchors, so rules overlap, nest and repeat, and addresses fall on their edges.
import fc from "fast-check";
import { formatV4, formatV6, parseNetwork } from "../../src/primitives/ip.js";
import type { Rule, RuleAction } from "../../src/guardian/rules.js";

export const NOW = 1_700_000_000_000;

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

export const ruleArb = fc.record({
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
export function addressesFor(rules: readonly Rule[], rnd: () => number): string[][] {
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

export type RuleSpec = typeof ruleArb extends fc.Arbitrary<infer T> ? T : never;

export const queryArb = fc.record({
  stream: fc.constantFrom("s1", "s2", "s3"),
  tags: fc.subarray(["t1", "t2", "t3"]),
  action: fc.constantFrom<RuleAction>("play", "publish"),
  country: fc.constantFrom("DE", "US", "CN", undefined),
  referer: fc.constantFrom(...referers),
  origin: fc.constantFrom(undefined, undefined, "https://a.example.com", "https://cdn.com"),
  later: fc.integer({ min: 0, max: 120 }),
  allowMissingReferer: fc.boolean(),
});

/** A rule as the store would hold it, from one drawn spec. */
export function ruleOf(s: RuleSpec, id: string): Rule {
  return {
    id,
    kind: s.kindValue[0],
    value: s.kindValue[1],
    type: s.type,
    actions: s.actions,
    scope: s.scope,
    mode: s.report === 0 ? "report" : "enforce",
    createdAt: s.createdAt,
    source: "api",
    ...(s.expiry !== undefined && { expiresAt: NOW + s.expiry * 1000 }),
  };
}
