// Compiled Guardian rules and the pure decision (issue 5 §4, docs/architecture.md §1 src/guardian). No I/O,
// no clock: `compile(rules, nowMs)` builds an immutable snapshot, `decide(snapshot, request)`
// looks the request up in the tables of the scopes that apply to it — the organisation, its
// stream, each of its tags — a handful of lookups however many rules there are.
//
// Precedence (README "Guardian"):
// - The three kinds are separate checks; a request must pass all of them (IP, then country,
//   then referrer). An allow of one kind never lifts a deny of another.
// - Within a kind the most specific matching rule wins: the longest IP prefix; an exact domain,
//   then the longest `*.suffix`, then `*`; a country code, then `*`. Scope does not add
//   specificity: a stream or tag rule competes with organisation rules on specificity alone.
// - Same specificity: deny beats allow (then the older rule is the one named).
// - Report-mode rules never deny; the ones that would have denied an allowed request are listed.
// - Expired rules never match (each table entry keeps the rules behind it; see intervals.ts).
//
// A snapshot is one compiled layer, or (issue 18 §6) a compiled base with a small layer of rules
// added since on top and a mask of base rules removed since (src/guardian/layers.ts builds those):
// a decision takes the best candidate of both layers by the same precedence, so it equals the
// decision of one compile of the same rules, and a change costs a compile of the small layer only.
import { chainWinner, chainWinnerUnmasked, v4Lookup, v6Lookup } from "../primitives/intervals.js";
import { pageHost } from "../primitives/domain.js";
import { ALLOW, addressWords, decideOne, pick, type Decision, type DecideOptions, type DecideRequest } from "./decide-one.js";
import { compileLayer, precedence, type Counts, type Layer, type Refusal, type ScopeTables } from "./layer.js";
import type { Rule } from "./rules.js";

export type { Layer, Refusal } from "./layer.js";
export type { Decision, DecideOptions, DecideRequest } from "./decide-one.js";

export interface Snapshot {
  /** The rules in force, in precedence order (built on first read when there is a delta). */
  readonly rules: readonly Rule[];
  readonly builtAt: number;
  /** The earliest expiry among the rules (Infinity if none): when a recompile drops one. */
  readonly nextExpiry: number;
  /** Whether any country rule exists: only then is a geo lookup worth doing. */
  readonly needsCountry: boolean;
  readonly counts: Counts;
  /** [play, publish]: whether a rule in force is tag-scoped. */
  readonly tagScoped: readonly [boolean, boolean];
  readonly hasReport: boolean;
  readonly hasReferer: boolean;
  /** A report-mode rule in force, by id (to name what a reported id is without a scan). */
  reportRule(id: string): Rule | undefined;
  // decide()'s: the layers. Candidate rules are numbered base first, then delta (base.rules.length + i).
  readonly base: Layer;
  readonly delta: Layer | null;
  /** Base indexes no longer in force (removed or replaced since the base was compiled). */
  readonly masked: ReadonlySet<number>;
}

const countFlags = (counts: Counts) => ({
  needsCountry: counts.country.enforce + counts.country.report > 0,
  hasReferer: counts.referer.enforce + counts.referer.report > 0,
  hasReport: counts.ip.report + counts.referer.report + counts.country.report > 0,
});

/** A snapshot of one layer. */
export function single(layer: Layer, nowMs: number): Snapshot {
  return Object.freeze({
    rules: layer.rules,
    builtAt: nowMs,
    nextExpiry: layer.nextExpiry,
    counts: layer.counts,
    ...countFlags(layer.counts),
    tagScoped: [layer.tagScoped[0] > 0, layer.tagScoped[1] > 0] as const,
    reportRule(id: string) {
      const i = layer.reportIndex.get(id);
      return i === undefined ? undefined : layer.rules[i];
    },
    base: layer,
    delta: null,
    masked: new Set<number>(),
  });
}

/** Compiles rules into an immutable snapshot. Rules already expired at `nowMs` are left out. */
export function compile(input: readonly Rule[], nowMs: number): Snapshot {
  return single(compileLayer(input, nowMs), nowMs);
}

/**
 * A base with `masked` base rules out of force and a `delta` layer on top. The cost is the size of
 * the delta and the mask, whatever the size of the base.
 */
export function layered(base: Layer, delta: Layer, masked: ReadonlySet<number>, nowMs: number): Snapshot {
  const counts = { ip: { ...delta.counts.ip }, referer: { ...delta.counts.referer }, country: { ...delta.counts.country } };
  const tagScoped = [delta.tagScoped[0], delta.tagScoped[1]];
  for (const kind of ["ip", "referer", "country"] as const) for (const mode of ["enforce", "report"] as const) counts[kind][mode] += base.counts[kind][mode];
  tagScoped[0] += base.tagScoped[0];
  tagScoped[1] += base.tagScoped[1];
  for (const i of masked) {
    const rule = base.rules[i];
    counts[rule.kind][rule.mode]--;
    if (rule.scope.tag !== undefined) for (const action of rule.actions) tagScoped[action === "play" ? 0 : 1]--;
  }
  let rules: readonly Rule[] | undefined;
  return Object.freeze({
    // Merged on first read (the API's listing; never a decision): both layers are in precedence order.
    get rules() {
      return (rules ??= mergeRules(
        base.rules.filter((_, i) => !masked.has(i)),
        delta.rules,
      ));
    },
    builtAt: nowMs,
    nextExpiry: Math.min(base.nextExpiry, delta.nextExpiry),
    counts,
    ...countFlags(counts),
    tagScoped: [tagScoped[0] > 0, tagScoped[1] > 0] as const,
    reportRule(id: string) {
      const d = delta.reportIndex.get(id);
      if (d !== undefined) return delta.rules[d];
      const b = base.reportIndex.get(id);
      return b === undefined || masked.has(b) ? undefined : base.rules[b];
    },
    base,
    delta,
    masked,
  });
}

function mergeRules(a: readonly Rule[], b: readonly Rule[]): readonly Rule[] {
  const out: Rule[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && precedence(a[i], b[j]) <= 0) ? a[i++] : b[j++]);
  return Object.freeze(out);
}
// Scratch for one decision (decide is synchronous and never re-entered): the tables that apply,
// whether each is the delta's, the parsed client address, and the snapshot's layers. A candidate
// rule is a base index, or base.rules.length + a delta index; -1 = none.
const applicable: ScopeTables[] = [];
const fromDelta: boolean[] = [];
const words = new Uint32Array(4);
let base: Layer;
let delta: Layer | null = null;
let nBase = 0;
let masked: ReadonlySet<number> | null = null;

const specOf = (c: number) => (c < nBase ? base.spec[c] : delta!.spec[c - nBase]);
const ruleOf = (c: number) => (c < nBase ? base.rules[c] : delta!.rules[c - nBase]);
const denies = (c: number) => (c < nBase ? base.deny[c] : delta!.deny[c - nBase]) === 1;

/** Whether candidate a comes before b in precedence order (within a layer, index order is precedence order). */
function before(a: number, b: number): boolean {
  return a < nBase === b < nBase ? a < b : precedence(ruleOf(a), ruleOf(b)) < 0;
}

/** The more specific of two candidates (-1 = none); same specificity → the one first in precedence (deny, older). */
function better(a: number, b: number): number {
  if (b < 0) return a;
  if (a < 0) return b;
  const sa = specOf(a);
  const sb = specOf(b);
  if (sa !== sb) return sa > sb ? a : b;
  return before(a, b) ? a : b;
}

/** The first rule of applicable table i's chain that is unexpired and not masked, as a candidate. */
function winner(i: number, chain: number, now: number): number {
  if (fromDelta[i]) {
    const r = chainWinner(delta!.chains, chain, delta!.expires, now);
    return r < 0 ? r : nBase + r;
  }
  return masked === null ? chainWinner(base.chains, chain, base.expires, now) : chainWinnerUnmasked(base.chains, chain, base.expires, now, masked);
}

function ipWinner(n: number, all: boolean, family: 4 | 6, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const m = pick(applicable[i], all);
    const table = family === 4 ? m.v4 : m.v6;
    if (table === null) continue;
    const chain = family === 4 ? v4Lookup(table, words[0]) : v6Lookup(table, words);
    best = better(best, winner(i, chain, now));
  }
  return best;
}

function countryWinner(n: number, all: boolean, code: string | undefined, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const m = pick(applicable[i], all);
    const chain = code === undefined ? undefined : m.countries?.get(code);
    let r = chain === undefined ? -1 : winner(i, chain, now);
    if (r < 0) r = winner(i, m.countryStar, now);
    best = better(best, r);
  }
  return best;
}

function refererWinner(n: number, all: boolean, host: string, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const m = pick(applicable[i], all);
    const exact = m.refExact?.get(host);
    let r = exact === undefined ? -1 : winner(i, exact, now);
    if (r < 0 && m.refWild !== null) {
      // Longest suffix first: a.b.example.com → b.example.com → example.com → com.
      for (let dot = host.indexOf("."); dot >= 0 && r < 0; dot = host.indexOf(".", dot + 1)) {
        const chain = m.refWild.get(host.slice(dot + 1));
        if (chain !== undefined) r = winner(i, chain, now);
      }
    }
    if (r < 0) r = winner(i, m.refStar, now);
    best = better(best, r);
  }
  return best;
}

/**
 * A missing referrer (allowMissingReferer off) is refused by the referrer rules that apply, if
 * any: the one named is a `*` rule if there is one, else the first in precedence order.
 */
function missingRefererRule(n: number, all: boolean, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const r = winner(i, pick(applicable[i], all).refAny, now);
    if (r < 0) continue;
    const star = specOf(r) === 0; // a referrer rule of specificity 0 is `*`
    if (best < 0 || (star && specOf(best) !== 0) || (star === (specOf(best) === 0) && before(r, best))) best = r;
  }
  return best;
}

/**
 * The rule of one kind that refuses the request (enforce pass: `all` false) or would refuse it
 * (report pass: `all` true, report rules included); -1 = none.
 */
function ipRefusal(n: number, all: boolean, family: 4 | 6, now: number): number {
  const r = ipWinner(n, all, family, now);
  return r >= 0 && denies(r) ? r : -1;
}

function countryRefusal(s: Snapshot, n: number, all: boolean, code: string | undefined, now: number): number {
  if (!s.needsCountry) return -1;
  const r = countryWinner(n, all, code, now);
  return r >= 0 && denies(r) ? r : -1;
}

function refererRefusal(s: Snapshot, n: number, all: boolean, host: string | undefined, opts: DecideOptions, now: number): number {
  if (!s.hasReferer) return -1;
  if (host === undefined) return opts.allowMissingReferer ? -1 : missingRefererRule(n, all, now);
  const r = refererWinner(n, all, host, now);
  return r >= 0 && denies(r) ? r : -1;
}

/** Adds the layer's tables that apply to the request after the first `n`; returns the new count. */
function collect(layer: Layer, isDelta: boolean, act: 0 | 1, req: DecideRequest, n: number): number {
  // No closure here: decide() allocates nothing on its way to an answer.
  let t = layer.org[act];
  if (t !== null) {
    fromDelta[n] = isDelta;
    applicable[n++] = t;
  }
  if (layer.streams.size > 0) {
    t = layer.streams.get(req.stream)?.[act] ?? null;
    if (t !== null) {
      fromDelta[n] = isDelta;
      applicable[n++] = t;
    }
  }
  if (layer.tags.size > 0) {
    for (const tag of req.tags) {
      t = layer.tags.get(tag)?.[act] ?? null;
      if (t !== null) {
        fromDelta[n] = isDelta;
        applicable[n++] = t;
      }
    }
  }
  return n;
}

/** The refusal of candidate r, frozen once per rule and reused. */
function refusal(r: number): Refusal {
  const layer = r < nBase ? base : delta!;
  const i = r < nBase ? r : r - nBase;
  return (layer.refusals[i] ??= Object.freeze({ allow: false, ruleId: layer.rules[i].id, kind: layer.rules[i].kind }));
}

/**
 * The decision for one request. A snapshot of one layer (single(): no API change since the last
 * fold) takes decideOne's path; the base + delta + mask path is for the second between a change
 * and its fold. Which one a snapshot takes is fixed when it is built, by its `delta`.
 */
export function decide(s: Snapshot, req: DecideRequest, opts: DecideOptions): Decision {
  return s.delta === null ? decideOne(s, req, opts) : decideLayered(s, req, opts);
}

function decideLayered(s: Snapshot, req: DecideRequest, opts: DecideOptions): Decision {
  const act = req.action === "play" ? 0 : 1;
  let n = collect(s.base, false, act, req, 0);
  if (s.delta !== null) n = collect(s.delta, true, act, req, n);
  if (n === 0) return ALLOW;
  base = s.base;
  delta = s.delta;
  nBase = s.base.rules.length;
  masked = s.masked.size > 0 ? s.masked : null;
  const family = addressWords(req.ip, words);
  const host = s.hasReferer ? pageHost(req.referer, req.origin) : undefined;
  const now = req.nowMs;
  let r = ipRefusal(n, false, family, now);
  if (r < 0) r = countryRefusal(s, n, false, req.country, now);
  if (r < 0) r = refererRefusal(s, n, false, host, opts, now);
  if (r >= 0) return refusal(r);
  if (!s.hasReport) return ALLOW;
  // Only report rules can refuse now: an enforce rule that would have has refused above.
  const reported: string[] = [];
  if ((r = ipRefusal(n, true, family, now)) >= 0) reported.push(ruleOf(r).id);
  if ((r = countryRefusal(s, n, true, req.country, now)) >= 0) reported.push(ruleOf(r).id);
  if ((r = refererRefusal(s, n, true, host, opts, now)) >= 0) reported.push(ruleOf(r).id);
  return reported.length === 0 ? ALLOW : { allow: true, reportedRuleIds: reported };
}
