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
import { chainWinner, Chains, v4Lookup, v6Lookup } from "../primitives/intervals.js";
import { labelCount, pageHost } from "../primitives/domain.js";
import { networkInto, parseAddress } from "../primitives/ip.js";
import type { Rule, RuleAction, RuleKind, RuleMode } from "./rules.js";
import { buildMatchers, type Matchers } from "./tables.js";

interface ScopeTables {
  readonly enforce: Matchers;
  /** Enforce and report rules together; null when the scope has no report rule. */
  readonly all: Matchers | null;
}

/** [play, publish] */
type ActionTables = readonly [ScopeTables | null, ScopeTables | null];

export interface Snapshot {
  /** The rules compiled in: unexpired at `builtAt`, in precedence order (deny first, then oldest). */
  readonly rules: readonly Rule[];
  readonly builtAt: number;
  /** The earliest expiry among the rules (Infinity if none): when a recompile drops one. */
  readonly nextExpiry: number;
  /** Whether any country rule exists: only then is a geo lookup worth doing. */
  readonly needsCountry: boolean;
  readonly counts: Readonly<Record<RuleKind, Readonly<Record<RuleMode, number>>>>;
  // The rest is decide()'s: lookup tables per scope, and per-rule facts by precedence index.
  readonly org: ActionTables;
  readonly streams: ReadonlyMap<string, ActionTables>;
  readonly tags: ReadonlyMap<string, ActionTables>;
  readonly chains: Int32Array;
  readonly expires: Float64Array;
  readonly spec: Int16Array;
  readonly deny: Uint8Array;
  readonly hasReport: boolean;
  readonly hasReferer: boolean;
  /** Report-mode rules by id, to name what a reported id is without a scan. */
  readonly reportRules: ReadonlyMap<string, Rule>;
  /**
   * Each rule's frozen refusal, made on its first deny and reused, so a flood of refused
   * requests allocates nothing (the one mutable part: a memo, filled lazily to keep 100k
   * objects out of every snapshot).
   */
  readonly refusals: (Refusal | undefined)[];
}

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

export type Refusal = { readonly allow: false; readonly ruleId: string; readonly kind: RuleKind };
export type Decision = { readonly allow: true; readonly reportedRuleIds: readonly string[] } | Refusal;

const ALLOW: Decision = Object.freeze({ allow: true, reportedRuleIds: Object.freeze([]) });
const EMPTY_ACTIONS: ActionTables = [null, null];

/** Rules with the same specificity: deny first, then the oldest, then by id — a total order. */
function precedence(a: Rule, b: Rule): number {
  if (a.type !== b.type) return a.type === "deny" ? -1 : 1;
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Referrer and country specificity; an IP rule's is its prefix length. */
function specificity(rule: Rule): number {
  if (rule.value === "*") return 0;
  if (rule.kind === "country") return 1;
  // Exact domains beat every wildcard that matches the same host (its suffix has fewer labels).
  return rule.value.startsWith("*.") ? 2 * labelCount(rule.value.slice(2)) : 2 * labelCount(rule.value) + 1;
}

/** Compiles rules into an immutable snapshot. Rules already expired at `nowMs` are left out. */
export function compile(input: readonly Rule[], nowMs: number): Snapshot {
  const rules = input.filter((r) => r.expiresAt === undefined || r.expiresAt > nowMs).sort(precedence);
  const n = rules.length;
  const expires = new Float64Array(n);
  const spec = new Int16Array(n);
  const deny = new Uint8Array(n);
  const family = new Uint8Array(n);
  const words = new Uint32Array(4 * n);
  const scratch = new Uint32Array(4);
  const counts = { ip: { enforce: 0, report: 0 }, referer: { enforce: 0, report: 0 }, country: { enforce: 0, report: 0 } };
  let nextExpiry = Infinity;
  // scope key → action → [enforce rules, all rules, has report]
  const sets = new Map<string, [number[], number[], boolean][]>();
  rules.forEach((rule, i) => {
    expires[i] = rule.expiresAt ?? Infinity;
    nextExpiry = Math.min(nextExpiry, expires[i]);
    if (rule.kind === "ip") {
      const parsed = networkInto(rule.value, scratch);
      if (typeof parsed === "string") throw new Error(`rule ${rule.id}: ${parsed}`); // validated on the way in
      family[i] = parsed >> 8;
      spec[i] = parsed & 255;
      words.set(scratch, 4 * i);
    } else spec[i] = specificity(rule);
    deny[i] = rule.type === "deny" ? 1 : 0;
    counts[rule.kind][rule.mode]++;
    const key = rule.scope.stream !== undefined ? `s:${rule.scope.stream}` : rule.scope.tag !== undefined ? `t:${rule.scope.tag}` : "";
    let perAction = sets.get(key);
    if (!perAction)
      sets.set(
        key,
        (perAction = [
          [[], [], false],
          [[], [], false],
        ]),
      );
    for (const action of rule.actions) {
      const set = perAction[action === "play" ? 0 : 1];
      if (rule.mode === "enforce") set[0].push(i);
      else set[2] = true;
      set[1].push(i);
    }
  });
  const facts = { kind: rules.map((r) => r.kind), value: rules.map((r) => r.value), family, words, spec, expires };
  const chains = new Chains();
  const build = ([enforce, all, hasReport]: [number[], number[], boolean]): ScopeTables | null =>
    all.length === 0 ? null : { enforce: buildMatchers(enforce, facts, chains), all: hasReport ? buildMatchers(all, facts, chains) : null };
  const streams = new Map<string, ActionTables>();
  const tags = new Map<string, ActionTables>();
  let org = EMPTY_ACTIONS;
  for (const [key, perAction] of sets) {
    const tables: ActionTables = [build(perAction[0]), build(perAction[1])];
    if (key === "") org = tables;
    else (key.startsWith("s:") ? streams : tags).set(key.slice(2), tables);
  }
  return Object.freeze({
    rules: Object.freeze(rules),
    builtAt: nowMs,
    nextExpiry,
    needsCountry: counts.country.enforce + counts.country.report > 0,
    counts,
    org,
    streams,
    tags,
    chains: Int32Array.from(chains.data),
    expires,
    spec,
    deny,
    hasReferer: counts.referer.enforce + counts.referer.report > 0,
    hasReport: counts.ip.report + counts.referer.report + counts.country.report > 0,
    reportRules: new Map(rules.filter((r) => r.mode === "report").map((r) => [r.id, r])),
    refusals: new Array<Refusal | undefined>(n),
  });
}

// Scratch for one decision (decide is synchronous and never re-entered): the tables that apply
// and the parsed client address.
const applicable: ScopeTables[] = [];
const words = new Uint32Array(4);

/** The more specific of two rules (-1 = none); same specificity → the lower index (deny, older). */
function better(s: Snapshot, a: number, b: number): number {
  if (b < 0) return a;
  if (a < 0) return b;
  if (s.spec[a] !== s.spec[b]) return s.spec[a] > s.spec[b] ? a : b;
  return a < b ? a : b;
}

const pick = (t: ScopeTables, all: boolean): Matchers => (all && t.all !== null ? t.all : t.enforce);

function ipWinner(s: Snapshot, n: number, all: boolean, family: 4 | 6, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const m = pick(applicable[i], all);
    const table = family === 4 ? m.v4 : m.v6;
    if (table === null) continue;
    const chain = family === 4 ? v4Lookup(table, words[0]) : v6Lookup(table, words);
    best = better(s, best, chainWinner(s.chains, chain, s.expires, now));
  }
  return best;
}

function countryWinner(s: Snapshot, n: number, all: boolean, code: string | undefined, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const m = pick(applicable[i], all);
    const chain = code === undefined ? undefined : m.countries?.get(code);
    let r = chain === undefined ? -1 : chainWinner(s.chains, chain, s.expires, now);
    if (r < 0) r = chainWinner(s.chains, m.countryStar, s.expires, now);
    best = better(s, best, r);
  }
  return best;
}

function refererWinner(s: Snapshot, n: number, all: boolean, host: string, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const m = pick(applicable[i], all);
    const exact = m.refExact?.get(host);
    let r = exact === undefined ? -1 : chainWinner(s.chains, exact, s.expires, now);
    if (r < 0 && m.refWild !== null) {
      // Longest suffix first: a.b.example.com → b.example.com → example.com → com.
      for (let dot = host.indexOf("."); dot >= 0 && r < 0; dot = host.indexOf(".", dot + 1)) {
        const chain = m.refWild.get(host.slice(dot + 1));
        if (chain !== undefined) r = chainWinner(s.chains, chain, s.expires, now);
      }
    }
    if (r < 0) r = chainWinner(s.chains, m.refStar, s.expires, now);
    best = better(s, best, r);
  }
  return best;
}

/**
 * A missing referrer (allowMissingReferer off) is refused by the referrer rules that apply, if
 * any: the one named is a `*` rule if there is one, else the first in precedence order.
 */
function missingRefererRule(s: Snapshot, n: number, all: boolean, now: number): number {
  let best = -1;
  for (let i = 0; i < n; i++) {
    const r = chainWinner(s.chains, pick(applicable[i], all).refAny, s.expires, now);
    if (r < 0) continue;
    const star = s.spec[r] === 0; // a referrer rule of specificity 0 is `*`
    if (best < 0 || (star && s.spec[best] !== 0) || (star === (s.spec[best] === 0) && r < best)) best = r;
  }
  return best;
}

/**
 * The rule of one kind that refuses the request (enforce pass: `all` false) or would refuse it
 * (report pass: `all` true, report rules included); -1 = none.
 */
function ipRefusal(s: Snapshot, n: number, all: boolean, family: 4 | 6, now: number): number {
  const r = ipWinner(s, n, all, family, now);
  return r >= 0 && s.deny[r] === 1 ? r : -1;
}

function countryRefusal(s: Snapshot, n: number, all: boolean, code: string | undefined, now: number): number {
  if (!s.needsCountry) return -1;
  const r = countryWinner(s, n, all, code, now);
  return r >= 0 && s.deny[r] === 1 ? r : -1;
}

function refererRefusal(s: Snapshot, n: number, all: boolean, host: string | undefined, opts: DecideOptions, now: number): number {
  if (!s.hasReferer) return -1;
  if (host === undefined) return opts.allowMissingReferer ? -1 : missingRefererRule(s, n, all, now);
  const r = refererWinner(s, n, all, host, now);
  return r >= 0 && s.deny[r] === 1 ? r : -1;
}

export function decide(s: Snapshot, req: DecideRequest, opts: DecideOptions): Decision {
  const act = req.action === "play" ? 0 : 1;
  let n = 0;
  const org = s.org[act];
  if (org !== null) applicable[n++] = org;
  if (s.streams.size > 0) {
    const t = s.streams.get(req.stream)?.[act];
    if (t) applicable[n++] = t;
  }
  if (s.tags.size > 0) {
    for (const tag of req.tags) {
      const t = s.tags.get(tag)?.[act];
      if (t) applicable[n++] = t;
    }
  }
  if (n === 0) return ALLOW;
  // An unparsable address is checked as 0.0.0.0: allow-lists (deny 0.0.0.0/0) refuse it,
  // block-lists ignore it. Adapters pass socket addresses, so this is a safety net.
  let family = parseAddress(req.ip, words);
  if (family === 0) {
    words[0] = 0;
    family = 4;
  }
  const host = s.hasReferer ? pageHost(req.referer, req.origin) : undefined;
  const now = req.nowMs;
  let r = ipRefusal(s, n, false, family, now);
  if (r < 0) r = countryRefusal(s, n, false, req.country, now);
  if (r < 0) r = refererRefusal(s, n, false, host, opts, now);
  if (r >= 0) return (s.refusals[r] ??= Object.freeze({ allow: false, ruleId: s.rules[r].id, kind: s.rules[r].kind }));
  if (!s.hasReport) return ALLOW;
  // Only report rules can refuse now: an enforce rule that would have has refused above.
  const reported: string[] = [];
  if ((r = ipRefusal(s, n, true, family, now)) >= 0) reported.push(s.rules[r].id);
  if ((r = countryRefusal(s, n, true, req.country, now)) >= 0) reported.push(s.rules[r].id);
  if ((r = refererRefusal(s, n, true, host, opts, now)) >= 0) reported.push(s.rules[r].id);
  return reported.length === 0 ? ALLOW : { allow: true, reportedRuleIds: reported };
}
