// The live Guardian (issue 5 §4-§7): the current snapshot of API rules ∪ rules-file rules,
// replaced by one reference assignment whenever either changes, so a decision in progress always
// sees one whole rule set. An API change compiles at once (the POST answers after the new rules
// are in force); a file change within the watcher's debounce. Only when a compile is slow (a rule
// set in the tens of thousands) are further compiles spaced — three compile times apart, at most
// 300 ms — so a burst of API calls takes at most about a quarter of the event loop from media
// sessions, and a change still waits at most 300 ms plus one compile: inside issue 5's 1 s.
import type { ErrorCode } from "../errors.js";
import type { Geo } from "../geo/types.js";
import { streamRef, type Logger } from "../log.js";
import { RulesFile } from "./rules-file.js";
import type { RuleStore } from "./rule-store.js";
import type { Rule, RuleAction, RuleKind } from "./rules.js";
import { compile, decide, type Decision, type DecideRequest, type Snapshot } from "./snapshot.js";

/** The edge error of a refusal by each kind of rule (src/errors.ts). */
export const GUARDIAN_ERRORS = {
  ip: "EDGE_ERR_GUARDIAN_IP",
  referer: "EDGE_ERR_GUARDIAN_REFERER",
  country: "EDGE_ERR_GUARDIAN_COUNTRY",
} as const satisfies Record<RuleKind, ErrorCode>;

/** Metric hooks (the lead maps them to prom-client). Every argument comes from a closed set. */
export interface GuardianCounters {
  decision?(action: RuleAction, result: "allow" | "deny", kind: RuleKind | "none"): void;
  /** A report-mode rule that would have refused an allowed request. */
  wouldDeny?(action: RuleAction, kind: RuleKind): void;
  /** A compile after a change: `file` errors are rejected rules files (the old rules stay). */
  reload?(source: "api" | "file" | "expiry", result: "ok" | "error"): void;
  /** Rules in force after each compile, by kind and mode. */
  rules?(counts: Snapshot["counts"]): void;
}

export type ApiRuleSource = Pick<RuleStore, "list" | "onChange">;

export interface GuardianOptions {
  readonly apiRules: ApiRuleSource;
  /** Watched YAML rules file; "" or absent = none (config guardian.rulesFile). */
  readonly rulesFile?: string;
  readonly allowMissingReferer: boolean;
  /** Asked for the client's country only when some country rule exists. */
  readonly geo?: Pick<Geo, "lookup">;
  readonly counters?: GuardianCounters;
  readonly log?: Logger;
  readonly now?: () => number;
  /** Rules-file watching (tests shorten these). */
  readonly fileDebounceMs?: number;
  readonly filePollMs?: number;
}

export type GuardianRequest = Omit<DecideRequest, "nowMs">;

type Listener = (current: Snapshot, previous: Snapshot) => void;

const SLOW_COMPILE_MS = 20;
const MAX_COMPILE_GAP_MS = 300;
/** Changes arriving within this long share one compile when no decision asks for them sooner. */
const BATCH_MS = 50;

/** Per compiled snapshot: [play, publish] has a tag-scoped rule. Snapshots are immutable. */
const tagScoped = new WeakMap<Snapshot, [boolean, boolean]>();

export class Guardian {
  private current: Snapshot;
  /** The API rules, kept current from the store's changes: a recompile never re-reads the table. */
  private readonly apiRules: Map<string, Rule>;
  private fileRules: readonly Rule[] = [];
  private readonly listeners = new Set<Listener>();
  private readonly now: () => number;
  private readonly file: RulesFile | null;
  private readonly unsubscribe: () => void;
  private pending: NodeJS.Timeout | null = null;
  private pendingSource: "api" | "file" | "expiry" = "api";
  /** A change not yet compiled (see changed()). */
  private dirty = false;
  private expiryTimer: NodeJS.Timeout | null = null;
  private lastCompileEnd = 0;
  private lastCompileMs = 0;

  /** Loads the rules file synchronously: a bad one at start throws RulesFileError. */
  constructor(private readonly opts: GuardianOptions) {
    this.now = opts.now ?? Date.now;
    this.current = compile([], this.now());
    this.file = opts.rulesFile
      ? new RulesFile({
          path: opts.rulesFile,
          onRules: (rules) => {
            this.fileRules = rules;
            // The first load runs inside this constructor: compiled below, with the API rules.
            if (this.file) this.changed("file");
          },
          onReload: (result) => result === "error" && opts.counters?.reload?.("file", "error"),
          log: opts.log,
          now: this.now,
          debounceMs: opts.fileDebounceMs,
          pollMs: opts.filePollMs,
        })
      : null;
    this.apiRules = new Map(opts.apiRules.list().map((r) => [r.id, r]));
    this.unsubscribe = opts.apiRules.onChange((change) => {
      if ("added" in change) this.apiRules.set(change.added.id, change.added);
      else this.apiRules.delete(change.removed);
      this.changed("api");
    });
    this.recompile("api");
  }

  /** The rules in force now. */
  get snapshot(): Snapshot {
    return this.fresh();
  }

  /** Whether a rule in force for the action is tag-scoped (deciding then needs the stream's tags). */
  needsTags(action: GuardianRequest["action"]): boolean {
    const snap = this.fresh();
    let known = tagScoped.get(snap);
    if (!known) {
      known = [false, false];
      for (const tables of snap.tags.values()) for (const act of [0, 1] as const) if (tables[act]) known[act] = true;
      tagScoped.set(snap, known);
    }
    return known[action === "play" ? 0 : 1];
  }

  /** A new play or publish: decided, counted, and report-mode would-denies logged. */
  decide(req: GuardianRequest): Decision {
    const snap = this.fresh();
    const decision = this.check(req, snap);
    const counters = this.opts.counters;
    if (!decision.allow) {
      counters?.decision?.(req.action, "deny", decision.kind);
      return decision;
    }
    counters?.decision?.(req.action, "allow", "none");
    for (const id of decision.reportedRuleIds) {
      const rule = snap.reportRules.get(id)!;
      counters?.wouldDeny?.(req.action, rule.kind);
      this.opts.log?.info("guardian report-mode rule would deny", { rule: id, kind: rule.kind, action: req.action, stream: streamRef(req.stream), ip: req.ip });
    }
    return decision;
  }

  /** The same decision without counting it: for re-checking running sessions after a change. */
  check(req: GuardianRequest, snap: Snapshot = this.fresh()): Decision {
    const country = req.country ?? (snap.needsCountry ? this.opts.geo?.lookup(req.ip)?.country : undefined);
    // Spelt out, not `{ ...req, country, nowMs }`: a spread followed by properties takes V8's slow
    // path on Node 20 (3-5 µs, the largest single cost of a cached decision; issue 14 §9).
    const { action, ip, referer, origin, stream, tags } = req;
    return decide(snap, { action, ip, referer, origin, country, stream, tags, nowMs: this.now() }, { allowMissingReferer: this.opts.allowMissingReferer });
  }

  /**
   * Called after every swap with the new and the previous snapshot. With guardian.enforceOnActive
   * the ingest re-checks its running sessions here and ends the ones now refused (issue 5 §6).
   */
  onRulesChanged(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.unsubscribe();
    this.file?.close();
    if (this.pending) clearTimeout(this.pending);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.listeners.clear();
  }

  /**
   * A change is compiled lazily (issue 18 §6): by the next decision that reads the rules, or after
   * BATCH_MS, whichever comes first. Adding a rule is then a store write, whatever the set's size,
   * and a burst of adds costs one compile — while a decision after an add still sees it, so a
   * change is in force for new connections when the API call returns. After a slow compile the
   * next one waits (the gap below), and decisions meanwhile use the rules in force.
   */
  private changed(source: "api" | "file" | "expiry"): void {
    this.pendingSource = source;
    this.dirty = true;
    if (this.pending) return;
    const wait = Math.max(BATCH_MS, this.lastCompileEnd + this.compileGap() - performance.now());
    this.pending = setTimeout(() => {
      this.pending = null;
      if (this.dirty) this.recompile(this.pendingSource);
    }, wait);
    this.pending.unref();
  }

  private compileGap(): number {
    return this.lastCompileMs < SLOW_COMPILE_MS ? 0 : Math.min(MAX_COMPILE_GAP_MS, 3 * this.lastCompileMs);
  }

  /** The rules in force, compiled first if they changed (unless a slow compile asks to wait). */
  private fresh(): Snapshot {
    if (this.dirty && performance.now() >= this.lastCompileEnd + this.compileGap()) {
      if (this.pending) clearTimeout(this.pending);
      this.pending = null;
      this.recompile(this.pendingSource);
    }
    return this.current;
  }

  private recompile(source: "api" | "file" | "expiry"): void {
    this.dirty = false;
    const started = performance.now();
    const previous = this.current;
    const now = this.now();
    for (const [id, rule] of this.apiRules) if (rule.expiresAt !== undefined && rule.expiresAt <= now) this.apiRules.delete(id);
    try {
      this.current = compile([...this.apiRules.values(), ...this.fileRules], now);
    } catch (err) {
      // Rules are validated on the way in; a failure here is a bug, and the old rules stay.
      this.opts.log?.error("guardian compile failed, previous rules kept", { source, error: String(err) });
      this.opts.counters?.reload?.(source, "error");
      return;
    }
    this.lastCompileEnd = performance.now();
    this.lastCompileMs = this.lastCompileEnd - started;
    this.opts.counters?.reload?.(source, "ok");
    this.opts.counters?.rules?.(this.current.counts);
    this.scheduleExpiry();
    for (const listener of this.listeners) listener(this.current, previous);
  }

  /** Expired rules stop matching on their own (snapshot chains); this drops them and updates counts. */
  private scheduleExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    const next = this.current.nextExpiry;
    if (!Number.isFinite(next)) return;
    this.expiryTimer = setTimeout(() => this.changed("expiry"), Math.min(Math.max(0, next - this.now()), 2 ** 31 - 1));
    this.expiryTimer.unref();
  }
}
