// One rule set's lookup structures (issue 5 §4): interval tables for IPv4 and IPv6, hash maps
// for exact referrers, `*.suffix` wildcards and countries. The snapshot builds one per
// (scope, action) — and a second one including report-mode rules where there are any.
import { Chains, ipTable, sweep, type IpTable, type RangeList } from "../primitives/intervals.js";

export interface Matchers {
  readonly v4: IpTable | null;
  readonly v6: IpTable | null;
  /** host → chain, for `example.com` rules. */
  readonly refExact: Map<string, number> | null;
  /** suffix → chain, for `*.suffix` rules (matching subdomains at any depth, not the suffix itself). */
  readonly refWild: Map<string, number> | null;
  readonly refStar: number;
  /** Every referrer rule, `*` first: what a missing referrer is refused by (allowMissingReferer off). */
  readonly refAny: number;
  readonly countries: Map<string, number> | null;
  readonly countryStar: number;
}

/** What the builder needs to know about each rule, by snapshot index. */
export interface RuleFacts {
  readonly kind: readonly ("ip" | "referer" | "country")[];
  readonly value: readonly string[];
  /** IP rules: 4 or 6; others 0. */
  readonly family: Uint8Array;
  /** IP rules: the network's first address, 4 words per rule (IPv4 in the first). */
  readonly words: Uint32Array;
  /** IP rules: the prefix length. */
  readonly spec: Int16Array;
  readonly expires: Float64Array;
}

function rangeList(ips: readonly number[], width: 1 | 4, facts: RuleFacts): RangeList {
  const starts = new Uint32Array(ips.length * width);
  const prefix = new Uint8Array(ips.length);
  ips.forEach((r, i) => {
    for (let w = 0; w < width; w++) starts[i * width + w] = facts.words[4 * r + w];
    prefix[i] = facts.spec[r];
  });
  return { width, count: ips.length, starts, prefix, rule: Int32Array.from(ips) };
}

function chainMap(byKey: Map<string, number[]>, chains: Chains, expires: Float64Array): Map<string, number> | null {
  if (byKey.size === 0) return null;
  const out = new Map<string, number>();
  for (const [key, rules] of byKey) out.set(key, chains.of(rules, expires));
  return out;
}

function push(map: Map<string, number[]>, key: string, rule: number): void {
  const list = map.get(key);
  if (list) list.push(rule);
  else map.set(key, [rule]);
}

/** Builds the matchers of one rule set. `rules` are snapshot indexes in precedence order. */
export function buildMatchers(rules: readonly number[], facts: RuleFacts, chains: Chains): Matchers {
  const v4: number[] = [];
  const v6: number[] = [];
  const exact = new Map<string, number[]>();
  const wild = new Map<string, number[]>();
  const countries = new Map<string, number[]>();
  const refStar: number[] = [];
  const refOther: number[] = [];
  const countryStar: number[] = [];
  for (const r of rules) {
    const value = facts.value[r];
    switch (facts.kind[r]) {
      case "ip":
        (facts.family[r] === 4 ? v4 : v6).push(r);
        break;
      case "referer":
        if (value === "*") refStar.push(r);
        else {
          refOther.push(r);
          if (value.startsWith("*.")) push(wild, value.slice(2), r);
          else push(exact, value, r);
        }
        break;
      case "country":
        if (value === "*") countryStar.push(r);
        else push(countries, value, r);
        break;
    }
  }
  const { expires } = facts;
  return {
    v4: v4.length === 0 ? null : ipTable(sweep(rangeList(v4, 1, facts), chains, expires), 1),
    v6: v6.length === 0 ? null : ipTable(sweep(rangeList(v6, 4, facts), chains, expires), 4),
    refExact: chainMap(exact, chains, expires),
    refWild: chainMap(wild, chains, expires),
    refStar: chains.of(refStar, expires),
    refAny: chains.of([...refStar, ...refOther], expires),
    countries: chainMap(countries, chains, expires),
    countryStar: chains.of(countryStar, expires),
  };
}
