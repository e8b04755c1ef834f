// One compiled Guardian rule set (issue 5 §4): the lookup tables of each scope and action, and the
// facts decide() needs per rule, by precedence index, in typed arrays. src/guardian/snapshot.ts
// states the precedence and decides over one layer or a base with a delta on top.
import { Chains } from "../primitives/intervals.js";
import { labelCount } from "../primitives/domain.js";
import { networkInto } from "../primitives/ip.js";
import type { Rule, RuleKind, RuleMode } from "./rules.js";
import { buildMatchers, type Matchers } from "./tables.js";

export type Refusal = { readonly allow: false; readonly ruleId: string; readonly kind: RuleKind };

export interface ScopeTables {
  readonly enforce: Matchers;
  /** Enforce and report rules together; null when the scope has no report rule. */
  readonly all: Matchers | null;
}

/** [play, publish] */
export type ActionTables = readonly [ScopeTables | null, ScopeTables | null];

export type Counts = Readonly<Record<RuleKind, Readonly<Record<RuleMode, number>>>>;

/** One compiled rule set: lookup tables per scope, and per-rule facts by precedence index. */
export interface Layer {
  /** The rules compiled in: unexpired at compile time, in precedence order (deny first, then oldest). */
  readonly rules: readonly Rule[];
  /** The earliest expiry among the rules (Infinity if none). */
  readonly nextExpiry: number;
  readonly counts: Counts;
  /** [play, publish]: how many rules are tag-scoped. */
  readonly tagScoped: readonly [number, number];
  readonly org: ActionTables;
  readonly streams: ReadonlyMap<string, ActionTables>;
  readonly tags: ReadonlyMap<string, ActionTables>;
  readonly chains: Int32Array;
  readonly expires: Float64Array;
  readonly spec: Int16Array;
  readonly deny: Uint8Array;
  /** API rules' indexes by id: what a later removal or refresh masks. */
  readonly indexOf: ReadonlyMap<string, number>;
  /** Report-mode rules' indexes by id. */
  readonly reportIndex: ReadonlyMap<string, number>;
  /**
   * Each rule's frozen refusal, made on its first deny and reused, so a flood of refused
   * requests allocates nothing (the one mutable part: a memo, filled lazily to keep 100k
   * objects out of every snapshot).
   */
  readonly refusals: (Refusal | undefined)[];
}

const EMPTY_ACTIONS: ActionTables = [null, null];

/** Rules with the same specificity: deny first, then the oldest, then by id — a total order. */
export function precedence(a: Rule, b: Rule): number {
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

/**
 * Compiles rules into one immutable layer. Rules already expired at `nowMs` are left out.
 * `maskable`: rules of this layer may be masked later, so chains keep the rules behind permanent ones.
 */
export function compileLayer(input: readonly Rule[], nowMs: number, maskable = false): Layer {
  const rules = input.filter((r) => r.expiresAt === undefined || r.expiresAt > nowMs).sort(precedence);
  const n = rules.length;
  const expires = new Float64Array(n);
  const spec = new Int16Array(n);
  const deny = new Uint8Array(n);
  const family = new Uint8Array(n);
  const words = new Uint32Array(4 * n);
  const scratch = new Uint32Array(4);
  const counts = { ip: { enforce: 0, report: 0 }, referer: { enforce: 0, report: 0 }, country: { enforce: 0, report: 0 } };
  const tagScoped: [number, number] = [0, 0];
  const indexOf = new Map<string, number>();
  const reportIndex = new Map<string, number>();
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
    if (rule.source === "api") indexOf.set(rule.id, i);
    if (rule.mode === "report") reportIndex.set(rule.id, i);
    if (rule.scope.tag !== undefined) for (const action of rule.actions) tagScoped[action === "play" ? 0 : 1]++;
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
  const chains = new Chains(!maskable);
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
    nextExpiry,
    counts,
    tagScoped,
    org,
    streams,
    tags,
    chains: Int32Array.from(chains.data),
    expires,
    spec,
    deny,
    indexOf,
    reportIndex,
    refusals: new Array<Refusal | undefined>(n),
  });
}
