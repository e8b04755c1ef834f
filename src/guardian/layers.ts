// The Guardian's rule set as a compiled base plus what changed since (issue 18 §6): an added or
// refreshed API rule goes into a small delta layer, a removed one masks its base entry, so a change
// costs a compile of the delta — tens of rules — however large the base. fold() compiles everything
// into a new base and empties the delta; the Guardian does that off the request path. Pure: no
// clock, no timers (the caller passes the time and decides when to fold).
import { compileLayer, type Layer } from "./layer.js";
import type { Rule } from "./rules.js";
import { layered, single, type Snapshot } from "./snapshot.js";

export class RuleLayers {
  /** Every API rule by id and the rules file's rules: what a fold compiles. */
  private readonly api = new Map<string, Rule>();
  private file: readonly Rule[] = [];
  private base: Layer = compileLayer([], 0, true);
  /** API rules added or refreshed since the base. */
  private readonly added = new Map<string, Rule>();
  /** Ids of base rules removed or refreshed since the base. */
  private readonly masked = new Set<string>();
  private view: Snapshot = single(this.base, 0);
  private stale = false;

  /** Changes since the last fold (added or refreshed, plus removed): what each snapshot() costs. */
  get pending(): number {
    return this.added.size + this.masked.size;
  }

  /** An API rule added, or refreshed under the same id. */
  add(rule: Rule): void {
    this.api.set(rule.id, rule);
    if (this.base.indexOf.has(rule.id)) this.masked.add(rule.id);
    this.added.set(rule.id, rule);
    this.stale = true;
  }

  remove(id: string): void {
    this.api.delete(id);
    this.added.delete(id);
    if (this.base.indexOf.has(id)) this.masked.add(id);
    this.stale = true;
  }

  /** All API rules at once (start-up). In force after the next fold. */
  replaceApi(rules: readonly Rule[]): void {
    this.api.clear();
    for (const r of rules) this.api.set(r.id, r);
  }

  /** The rules file's rules. In force after the next fold. */
  setFile(rules: readonly Rule[]): void {
    this.file = rules;
  }

  /** The base with the changes since on top; the same object until something changes. */
  snapshot(nowMs: number): Snapshot {
    if (!this.stale) return this.view;
    this.stale = false;
    if (this.pending === 0) return (this.view = single(this.base, nowMs));
    const masked = new Set<number>();
    for (const id of this.masked) masked.add(this.base.indexOf.get(id)!);
    return (this.view = layered(this.base, compileLayer([...this.added.values()], nowMs), masked, nowMs));
  }

  /**
   * Compiles every rule into a new base (expired API rules are dropped for good) and empties the
   * delta. Throws if a rule does not compile; the rule set in force is then unchanged.
   */
  fold(nowMs: number): Snapshot {
    for (const [id, rule] of this.api) if (rule.expiresAt !== undefined && rule.expiresAt <= nowMs) this.api.delete(id);
    // Maskable: a later removal masks its entry, and the rules it shadowed must still be in the chains.
    this.base = compileLayer([...this.api.values(), ...this.file], nowMs, true);
    this.added.clear();
    this.masked.clear();
    this.stale = false;
    return (this.view = single(this.base, nowMs));
  }
}
