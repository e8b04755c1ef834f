// Re-validation of live publishers (issue 4 §3): a key that became locked, deleted or unknown in
// bintu loses its publisher within one interval. nginx-rtmp's on_update does the same every 30 s
// (docs/reliability.md §3); its flaw — a re-check that cannot connect silently stops checking — is
// avoided here: every outcome, success or failure, schedules the next check.
//
// Outage policy: the re-check asks the directory with `fresh`, which serves a stream validated
// less than `staleIfErrorMs` ago when bintu fails. So a publisher is kept while bintu is down
// until its last good validation is older than the stale window, then kicked with
// EDGE_ERR_BINTU_UNAVAILABLE. Kick latency ≤ interval × 1.2 + request deadline.
import type { Lookup, StreamInfo } from "../bintu/directory.js";
import { EdgeError, type ErrorCode } from "../errors.js";
import { streamVerdict } from "./access.js";
import { systemClock, type Clock, type Timer } from "./ports.js";

export interface LiveSession {
  readonly id: string;
  readonly name: string;
}

/** A check keeps the session (and says where the answer came from) or ends it with a code. */
export type CheckResult = { keep: true; source: Lookup["source"] } | { keep: false; code: ErrorCode };

export interface RevalidatorOptions<S extends LiveSession> {
  directory: { resolve(name: string, opts: { fresh: boolean }): Promise<Lookup> };
  intervalMs: number;
  /** Spread of each wait around `intervalMs` (0.2 = ±20 %), so checks do not arrive in waves. */
  jitter?: number;
  /** End the session (destroy the socket, close its players). */
  kick: (session: S, code: ErrorCode) => void;
  /**
   * Runs after bintu still allows the stream (the webhook's update_publish); a code ends the
   * session with it.
   */
  afterValid?: (session: S, stream: StreamInfo) => Promise<ErrorCode | null>;
  /** Called with each check's result (metrics: kicks by reason, stale keeps). */
  onChecked?: (session: S, result: CheckResult) => void;
  random?: () => number;
  clock?: Clock;
}

export class Revalidator<S extends LiveSession> {
  private readonly timers = new Map<string, Timer>();
  private readonly clock: Clock;
  private closed = false;

  constructor(private readonly opts: RevalidatorOptions<S>) {
    this.clock = opts.clock ?? systemClock;
  }

  /** Starts re-checking a publisher (call when its publish is accepted). */
  add(session: S): void {
    if (this.closed || this.timers.has(session.id)) return;
    this.schedule(session);
  }

  /** Stops re-checking (call when the publisher leaves, for any reason). */
  remove(id: string): void {
    const timer = this.timers.get(id);
    if (timer) this.clock.clearTimer(timer);
    this.timers.delete(id);
  }

  get size(): number {
    return this.timers.size;
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) this.clock.clearTimer(timer);
    this.timers.clear();
  }

  private schedule(session: S): void {
    const { intervalMs, jitter = 0.2, random = Math.random } = this.opts;
    const wait = intervalMs * (1 - jitter + 2 * jitter * random());
    this.timers.set(
      session.id,
      this.clock.setTimer(() => void this.check(session), wait),
    );
  }

  private async check(session: S): Promise<void> {
    const result = await this.evaluate(session);
    // Removed (publisher left, or closed) while the check ran: nothing to kick or schedule.
    if (!this.timers.has(session.id)) return;
    this.opts.onChecked?.(session, result);
    if (result.keep) return this.schedule(session);
    this.timers.delete(session.id);
    this.opts.kick(session, result.code);
  }

  private async evaluate(session: S): Promise<CheckResult> {
    let found: Lookup;
    try {
      found = await this.opts.directory.resolve(session.name, { fresh: true });
    } catch (err) {
      // The directory throws only when there is neither an answer nor a stale one: fail closed.
      return { keep: false, code: err instanceof EdgeError ? err.code : "EDGE_ERR_BINTU_UNAVAILABLE" };
    }
    const { stream, source } = found;
    if (!stream) return { keep: false, code: "EDGE_ERR_STREAM_UNKNOWN" };
    const refused = streamVerdict(stream);
    if (refused) return { keep: false, code: refused };
    let code: ErrorCode | null = null;
    try {
      code = (await this.opts.afterValid?.(session, stream)) ?? null;
    } catch {
      code = "EDGE_ERR_INTERNAL"; // a hook that cannot answer does not keep a session alive
    }
    return code ? { keep: false, code } : { keep: true, source };
  }
}
