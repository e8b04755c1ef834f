// The rule store port (issue 11 §2), declared by its users: the Guardian reads it, the Guardian API
// (src/http/guardian-routes.ts) writes it. Filled by GuardianStore (SQLite) on one edge.
import type { Rule, RuleDraft, RuleKind } from "./rules.js";

/** What changed: a rule added or refreshed (same id, new expiry/info/tag), or one removed. */
export type RuleChange = { readonly added: Rule } | { readonly removed: string };

export interface RuleFilter {
  readonly kind?: RuleKind;
  readonly stream?: string;
  readonly tag?: string;
}

/**
 * Where API rules live, read and write (issue 11 §2): the SQLite store of one edge (GuardianStore),
 * a fleet's shared store next. Reads answer from the store's local copy, synchronously — decisions
 * never wait on it; writes may travel, so they are promises, and every change (wherever it was
 * made) arrives through `onChange`.
 */
export interface RuleStore {
  list(filter?: RuleFilter): readonly Rule[];
  /** Unexpired rules, without reading them (the cap on adds, issue 18 §6). */
  count(): number;
  add(draft: RuleDraft): Promise<Rule>;
  /** With `kind`, only a rule of that kind; false when there was none. */
  remove(id: string, kind?: RuleKind): Promise<boolean>;
  onChange(listener: (change: RuleChange) => void): () => void;
}

/** What the Guardian reads of the store: the rules once at start, then every change. */
