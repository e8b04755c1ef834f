// The live Guardian (issue 5 §4-§7): the current snapshot of API rules ∪ rules-file rules,
// replaced by one reference assignment whenever either changes, so a decision in progress always
// sees one whole rule set.
//
// An API change costs the size of the change, not of the rule set (issue 18 §6): it goes into a
// small delta layer on top of the compiled base (src/guardian/layers.ts), in force at the next
// decision (the POST answers after the new rules are in force) or after BATCH_MS. The whole set is
// compiled ("folded") FOLD_DELAY_MS after the first change not yet folded, off the request path,
// and at most every ten compile times: however fast changes come, folds take at most about a
// tenth of the event loop from media sessions. Only a burst larger than FOLD_MAX before any
// decision folds at once (one compile for the burst). A rules-file change or an expiry folds —
// within the watcher's debounce, or three compile times after a slow compile (at most 300 ms),
// inside issue 5's 1 s.
import type { ErrorCode } from "../errors.js";
import type { Geo } from "../geo/types.js";
import { streamRef, type Logger } from "../log.js";
import { RulesFile } from "./rules-file.js";
import type { RuleStore } from "./rule-store.js";
import type { RuleAction, RuleKind } from "./rules.js";
import { RuleLayers } from "./layers.js";
import { decide, type Decision, type DecideRequest, type Snapshot } from "./snapshot.js";
import { WouldDenyLog } from "./would-deny.js";

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
  /** A change put in force (as a delta or by a compile): `file` errors are rejected rules files (the old rules stay). */
  reload?(source: "api" | "file" | "expiry", result: "ok" | "error"): void;
  /** Rules in force after each change, by kind and mode. */
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

/** `protocol` is not decided on: it names the adapter in the would-deny log. */
export type GuardianRequest = Omit<DecideRequest, "nowMs"> & { readonly protocol?: string };

/** The rules now in force, the previous ones, and the ids of rules added since with `enforceOnActive`. */
type Listener = (current: Snapshot, previous: Snapshot, addedOnActive: ReadonlySet<string>) => void;

const SLOW_COMPILE_MS = 20;
const MAX_COMPILE_GAP_MS = 300;
/** Changes arriving within this long share one snapshot when no decision asks for them sooner. */
const BATCH_MS = 50;
/** A fold follows the first unfolded change after this long, and at least ten compile times after the last. */
const FOLD_DELAY_MS = 1000;
/**
 * A burst of more unfolded changes than this before a decision is no longer a small delta: that
 * decision folds (one compile for the whole burst, as batching did before the delta).
 */
const FOLD_MAX = 2048;

type Source = "api" | "file" | "expiry";

export class Guardian {
  private current: Snapshot;
  /** The last would-deny events of report-mode rules (GET /v1/guardian/would-deny). */
  readonly wouldDenies = new WouldDenyLog(200);
  private readonly layers = new RuleLayers();
  private readonly listeners = new Set<Listener>();
  private readonly now: () => number;
  private readonly file: RulesFile | null;
  private readonly unsubscribe: () => void;
  private pending: NodeJS.Timeout | null = null;
  private pendingSource: Source = "api";
  /** A change not yet in force (see changed()). */
  private dirty = false;
  /** A change only a fold puts in force (the rules file, an expiry). */
  private foldDue = false;
  private foldTimer: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private lastCompileEnd = 0;
  private lastCompileMs = 0;
  /** API rules added (or refreshed) with enforceOnActive since the last swap: told to listeners with it. */
  private addedOnActive = new Set<string>();

  /** Loads the rules file synchronously: a bad one at start throws RulesFileError. */
  constructor(private readonly opts: GuardianOptions) {
    this.now = opts.now ?? Date.now;
    this.file = opts.rulesFile
      ? new RulesFile({
          path: opts.rulesFile,
          onRules: (rules) => {
            this.layers.setFile(rules);
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
    this.layers.replaceApi(opts.apiRules.list());
    this.unsubscribe = opts.apiRules.onChange((change) => {
      if ("added" in change) {
        this.layers.add(change.added);
        if (change.added.enforceOnActive) this.addedOnActive.add(change.added.id);
      } else {
        this.layers.remove(change.removed);
        this.addedOnActive.delete(change.removed);
      }
      this.changed("api");
    });
    this.current = this.layers.fold(this.now());
    this.swapped("api", this.current);
  }

  /** The rules in force now. */
  get snapshot(): Snapshot {
    return this.fresh();
  }

  /** Whether a rule in force for the action is tag-scoped (deciding then needs the stream's tags). */
  needsTags(action: GuardianRequest["action"]): boolean {
    return this.fresh().tagScoped[action === "play" ? 0 : 1];
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
      const rule = snap.reportRule(id)!;
      const stream = streamRef(req.stream);
      counters?.wouldDeny?.(req.action, rule.kind);
      this.opts.log?.info("guardian report-mode rule would deny", { rule: id, kind: rule.kind, action: req.action, stream, ip: req.ip });
      const { action, protocol, ip } = req;
      this.wouldDenies.record({
        at: this.now(),
        ruleId: id,
        kind: rule.kind,
        value: rule.value,
        action,
        ...(protocol !== undefined && { protocol }),
        ip,
        stream,
      });
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
   * the ingest re-checks its running sessions here and ends the ones now refused (issue 5 §6);
   * without it, the ones refused by a rule added with its own enforceOnActive (issue 16 §5).
   */
  onRulesChanged(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.unsubscribe();
    this.file?.close();
    if (this.pending) clearTimeout(this.pending);
    if (this.foldTimer) clearTimeout(this.foldTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.listeners.clear();
  }

  /**
   * A change is put in force lazily (issue 18 §6): by the next decision that reads the rules, or
   * after BATCH_MS, whichever comes first — so a burst of changes shares one snapshot, while a
   * decision after an add still sees it: a change is in force for new connections when the API
   * call returns.
   */
  private changed(source: Source): void {
    this.pendingSource = source;
    this.dirty = true;
    if (source !== "api") this.foldDue = true;
    if (this.pending) return;
    const wait = Math.max(BATCH_MS, this.foldDue ? this.lastCompileEnd + this.compileGap() - performance.now() : 0);
    this.pending = setTimeout(() => {
      this.pending = null;
      if (this.dirty) this.apply();
      // A fold that had to wait for the gap: try again when it is over.
      if (this.dirty) this.changed(this.pendingSource);
    }, wait);
    this.pending.unref();
  }

  /** After a slow compile, the next waits three compile times (at most 300 ms). */
  private compileGap(): number {
    return this.lastCompileMs < SLOW_COMPILE_MS ? 0 : Math.min(MAX_COMPILE_GAP_MS, 3 * this.lastCompileMs);
  }

  /** The rules in force, with any change put in force first. */
  private fresh(): Snapshot {
    if (this.dirty) this.apply();
    return this.current;
  }

  /**
   * Puts the changes in force: API changes as a delta on the base; what needs a fold (the rules
   * file, an expiry, a very large burst) by a fold, unless a slow compile asks to wait — API
   * changes are then in force through the delta meanwhile.
   */
  private apply(): void {
    const canFold = performance.now() >= this.lastCompileEnd + this.compileGap();
    if (canFold && (this.foldDue || this.layers.pending > FOLD_MAX)) return this.fold();
    this.dirty = this.foldDue;
    const next = this.layers.snapshot(this.now());
    if (next !== this.current) this.swapped(this.pendingSource, next);
    this.scheduleFold();
  }

  /** Compiles the whole rule set into a new base; decisions are the same, the delta is empty. */
  private fold(): void {
    const inForce = !this.dirty; // nothing waiting: the fold changes no decision, nobody is told
    const source = this.pendingSource;
    this.dirty = this.foldDue = false;
    const started = performance.now();
    let next: Snapshot;
    try {
      next = this.layers.fold(this.now());
    } catch (err) {
      // Rules are validated on the way in; a failure here is a bug, and the old rules stay.
      this.opts.log?.error("guardian compile failed, previous rules kept", { source, error: String(err) });
      this.opts.counters?.reload?.(source, "error");
      return;
    }
    this.lastCompileEnd = performance.now();
    this.lastCompileMs = this.lastCompileEnd - started;
    if (inForce) {
      this.current = next;
      this.opts.counters?.rules?.(next.counts);
      this.scheduleExpiry();
    } else this.swapped(source, next);
  }

  /** Folds the delta in the background, FOLD_DELAY_MS after the first change not yet folded. */
  private scheduleFold(): void {
    if (this.foldTimer || this.layers.pending === 0) return;
    const wait = Math.max(FOLD_DELAY_MS, this.lastCompileEnd + 10 * this.lastCompileMs - performance.now());
    this.foldTimer = setTimeout(() => {
      this.foldTimer = null;
      // Changes not yet in force (dirty) go in with the fold, and are announced.
      if (this.dirty || this.layers.pending > 0) this.fold();
    }, wait);
    this.foldTimer.unref();
  }

  private swapped(source: Source, next: Snapshot): void {
    const previous = this.current;
    this.current = next;
    this.opts.counters?.reload?.(source, "ok");
    this.opts.counters?.rules?.(next.counts);
    this.scheduleExpiry();
    const addedOnActive = this.addedOnActive;
    if (addedOnActive.size > 0) this.addedOnActive = new Set();
    if (previous !== next) for (const listener of this.listeners) listener(next, previous, addedOnActive);
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
