// The Guardian's decision over one compiled layer: the fast path of src/guardian/snapshot.ts's
// decide(), taken whenever the rules in force are a single compiled layer — always, except in the
// second after an API change before the background fold (issue 18 §6). The precedence is the one
// snapshot.ts states; within one layer, index order is precedence order, so a candidate is a plain
// rule index compared with `<`, and no mask or second layer is looked at. The layered decision
// (base + delta + mask) generalises this and cost ~10% of decisions per second when used for the
// no-delta case too (bench:guardian, A/B in one process). The property tests hold both to the
// brute-force reference (test/guardian/reference.ts).
import { chainWinner, v4Lookup, v6Lookup } from "../primitives/intervals.js";
import { pageHost } from "../primitives/domain.js";
import { parseAddress } from "../primitives/ip.js";
import type { Layer, Refusal, ScopeTables } from "./layer.js";
import type { RuleAction } from "./rules.js";
import type { Matchers } from "./tables.js";

export interface DecideRequest {
  readonly action: RuleAction;
  readonly ip: string;
  readonly referer?: string;
  readonly origin?: string;
  /** ISO 3166-1 alpha-2 from the geo lookup; absent = unknown (matched by `*` country rules only). */
  readonly country?: string;
  readonly stream: string;
  readonly tags: readonly string[];
  readonly nowMs: number;
}

export interface DecideOptions {
  /** Players without Referer and Origin pass referrer rules (config guardian.allowMissingReferer). */
  readonly allowMissingReferer: boolean;
}

export type Decision = { readonly allow: true; readonly reportedRuleIds: readonly string[] } | Refusal;
export const ALLOW: Decision = Object.freeze({ allow: true, reportedRuleIds: Object.freeze([]) });

/**
 * The request's address into `out`. An unparsable address is checked as 0.0.0.0: allow-lists
 * (deny 0.0.0.0/0) refuse it, block-lists ignore it. Adapters pass socket addresses, so this is a
 * safety net.
 */
export function addressWords(ip: string, out: Uint32Array): 4 | 6 {
  const family = parseAddress(ip, out);
  if (family !== 0) return family;
  out[0] = 0;
  return 4;
}

/** What a one-layer decision reads: the layer and the flags of the snapshot that holds it (a Snapshot is one). */
export interface OneLayer {
  readonly base: Layer;
  readonly needsCountry: boolean;
  readonly hasReferer: boolean;
  readonly hasReport: boolean;
}

export const pick = (t: ScopeTables, all: boolean): Matchers => (all && t.all !== null ? t.all : t.enforce);

// Scratch for one decision (synchronous, never re-entered): the tables that apply and the parsed
// client address. Passed as arguments below, not read from module state, to keep the loops tight.
const applicable: ScopeTables[] = [];
const words = new Uint32Array(4);

/** The more specific of two rules (-1 = none); same specificity → the lower index (deny, older). */
function better(l: Layer, a: number, b: number): number {
  if (b < 0) return a;
  if (a < 0) return b;
  if (l.spec[a] !== l.spec[b]) return l.spec[a] > l.spec[b] ? a : b;
  return a < b ? a : b;
}

function ipWinner(l: Layer, n: number, all: boolean, family: 4 | 6, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const m = pick(applicable[i], all);
    const table = family === 4 ? m.v4 : m.v6;
    if (table === null) continue;
    const chain = family === 4 ? v4Lookup(table, words[0]) : v6Lookup(table, words);
    best = better(l, best, chainWinner(l.chains, chain, l.expires, now));
  }
  return best;
}

function countryWinner(l: Layer, n: number, all: boolean, code: string | undefined, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const m = pick(applicable[i], all);
    const chain = code === undefined ? undefined : m.countries?.get(code);
    let r = chain === undefined ? -1 : chainWinner(l.chains, chain, l.expires, now);
    if (r < 0) r = chainWinner(l.chains, m.countryStar, l.expires, now);
    best = better(l, best, r);
  }
  return best;
}

function refererWinner(l: Layer, n: number, all: boolean, host: string, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const m = pick(applicable[i], all);
    const exact = m.refExact?.get(host);
    let r = exact === undefined ? -1 : chainWinner(l.chains, exact, l.expires, now);
    if (r < 0 && m.refWild !== null) {
      // Longest suffix first: a.b.example.com → b.example.com → example.com → com.
      for (let dot = host.indexOf("."); dot >= 0 && r < 0; dot = host.indexOf(".", dot + 1)) {
        const chain = m.refWild.get(host.slice(dot + 1));
        if (chain !== undefined) r = chainWinner(l.chains, chain, l.expires, now);
      }
    }
    if (r < 0) r = chainWinner(l.chains, m.refStar, l.expires, now);
    best = better(l, best, r);
  }
  return best;
}

/** A missing referrer (allowMissingReferer off): a `*` rule if one applies, else the first in precedence order. */
function missingRefererRule(l: Layer, n: number, all: boolean, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const r = chainWinner(l.chains, pick(applicable[i], all).refAny, l.expires, now);
    if (r < 0) continue;
    const star = l.spec[r] === 0; // a referrer rule of specificity 0 is `*`
    if (best < 0 || (star && l.spec[best] !== 0) || (star === (l.spec[best] === 0) && r < best)) best = r;
  }
  return best;
}

/** The rule of one kind that refuses (enforce pass) or would refuse (report pass, `all`) the request; -1 = none. */
function ipRefusal(l: Layer, n: number, all: boolean, family: 4 | 6, now: number): number {
  const r = ipWinner(l, n, all, family, now);
  return r >= 0 && l.deny[r] === 1 ? r : -1;
}

function countryRefusal(s: OneLayer, n: number, all: boolean, code: string | undefined, now: number): number {
  if (!s.needsCountry) return -1;
  const r = countryWinner(s.base, n, all, code, now);
  return r >= 0 && s.base.deny[r] === 1 ? r : -1;
}

function refererRefusal(s: OneLayer, n: number, all: boolean, host: string | undefined, opts: DecideOptions, now: number): number {
  if (!s.hasReferer) return -1;
  if (host === undefined) return opts.allowMissingReferer ? -1 : missingRefererRule(s.base, n, all, now);
  const r = refererWinner(s.base, n, all, host, now);
  return r >= 0 && s.base.deny[r] === 1 ? r : -1;
}

export function decideOne(s: OneLayer, req: DecideRequest, opts: DecideOptions): Decision {
  const l = s.base;
  const act = req.action === "play" ? 0 : 1;
  let n = 0;
  const org = l.org[act];
  if (org !== null) applicable[n++] = org;
  if (l.streams.size > 0) {
    const t = l.streams.get(req.stream)?.[act];
    if (t) applicable[n++] = t;
  }
  if (l.tags.size > 0) {
    for (const tag of req.tags) {
      const t = l.tags.get(tag)?.[act];
      if (t) applicable[n++] = t;
    }
  }
  if (n === 0) return ALLOW;
  const family = addressWords(req.ip, words);
  const host = s.hasReferer ? pageHost(req.referer, req.origin) : undefined;
  const now = req.nowMs;
  let r = ipRefusal(l, n, false, family, now);
  if (r < 0) r = countryRefusal(s, n, false, req.country, now);
  if (r < 0) r = refererRefusal(s, n, false, host, opts, now);
  // Each rule's refusal is frozen once and reused: a flood of refused requests allocates nothing.
  if (r >= 0) return (l.refusals[r] ??= Object.freeze({ allow: false, ruleId: l.rules[r].id, kind: l.rules[r].kind }));
  if (!s.hasReport) return ALLOW;
  // Only report rules can refuse now: an enforce rule that would have has refused above.
  const reported: string[] = [];
  if ((r = ipRefusal(l, n, true, family, now)) >= 0) reported.push(l.rules[r].id);
  if ((r = countryRefusal(s, n, true, req.country, now)) >= 0) reported.push(l.rules[r].id);
  if ((r = refererRefusal(s, n, true, host, opts, now)) >= 0) reported.push(l.rules[r].id);
  return reported.length === 0 ? ALLOW : { allow: true, reportedRuleIds: reported };
}
