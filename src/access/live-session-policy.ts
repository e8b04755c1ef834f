// The live-session policy (issue 11 §1): the one place that re-decides sessions that are already
// running, and that carries out what happens around a publish. Adapters (RTMP, HTTP-FLV, later
// relays and sessions on foreign servers) report `started` / `ended` and carry out `end(code)`;
// everything else is decided here:
// - a revoked token ends every session allowed with it (issue 6 §5);
// - a forceDisconnect token ends its sessions at `exp`, by one timer per session (nanoStream's
//   semantics; without it an expired token only blocks new plays);
// - with guardian.enforceOnActive a rule change ends the running sessions the new rules refuse
//   (nanoStream only ever refuses new connections, which stays the default); without it, a rule
//   added with its own `enforceOnActive` ends the running sessions it refuses (issue 16 §5);
// - a stream locked or deleted loses its publisher at once, its players after the end grace
//   (players of a stream pulled from another edge at once, issue 13);
// - every publisher is re-checked against bintu (remote mode has no push) and the webhook gets its
//   update_publish there; a refusal of either ends it;
// - a publish end reports the stream `ended`, calls the webhook's publish_done and, after
//   playback.endGraceMs without a new publisher, closes the stream's players.
import { ERRORS, type ErrorCode } from "../errors.js";
import { streamRef, type Logger } from "../log.js";
import { guardianRequest, streamVerdict } from "./access.js";
import { GUARDIAN_ERRORS } from "../guardian/guardian.js";
import type { Clock, PublishWebhook, RevocationFeed, RuleCheck, StreamWatch, Timer } from "./ports.js";
import { systemClock } from "./ports.js";
import { Revalidator, type CheckResult } from "./revalidator.js";
import type { SessionTable } from "./session-table.js";
import type { EdgeSession } from "./types.js";

export interface LiveSessionPolicyOptions {
  readonly table: SessionTable;
  readonly rules: Pick<RuleCheck, "check" | "onRulesChanged">;
  /** guardian.enforceOnActive: rule changes also end running sessions. */
  readonly enforceRulesOnActive: boolean;
  readonly revocations: RevocationFeed;
  readonly streams: StreamWatch;
  readonly webhook: Pick<PublishWebhook, "update" | "done"> | null;
  /** playback.endGraceMs: how long players wait for a publisher to come back. */
  readonly endGraceMs: number;
  /** ingest.revalidateIntervalMs: publishers' re-check interval. */
  readonly revalidateIntervalMs: number;
  readonly clock?: Clock;
  readonly log?: Logger;
  readonly events?: {
    revoked?(): void;
    revalidated?(result: CheckResult): void;
    /** A publisher of this edge ended (after its stream was reported ended): a fleet gives its key back. */
    publishEnded?(session: EdgeSession): void;
  };
}

// setTimeout holds at most 2^31-1 ms (24.8 days); a token may live 365 days (nanoStream's bound).
const MAX_TIMER_MS = 2 ** 31 - 1;

export class LiveSessionPolicy {
  private readonly clock: Clock;
  private readonly revalidator: Revalidator<EdgeSession>;
  private readonly expiryTimers = new Map<EdgeSession, Timer>();
  /** Sessions by the jti of the token they were allowed with: a revocation finds them without a scan. */
  private readonly byToken = new Map<string, Set<EdgeSession>>();
  private readonly graceTimers = new Set<Timer>();
  private readonly unsubscribe: Array<() => void>;

  constructor(private readonly opts: LiveSessionPolicyOptions) {
    this.clock = opts.clock ?? systemClock;
    const { webhook, streams, events } = opts;
    this.revalidator = new Revalidator<EdgeSession>({
      directory: streams,
      intervalMs: opts.revalidateIntervalMs,
      clock: this.clock,
      kick: (s, code) => s.end(code),
      afterValid: webhook ? async (s) => ((await webhook.update(s, this.clock.now() - s.startedAt)) === "allow" ? null : "EDGE_ERR_WEBHOOK_DENIED") : undefined,
      onChecked: (_s, result) => events?.revalidated?.(result),
    });
    this.unsubscribe = [
      opts.revocations.onRevoke((jti) => this.onRevoked(jti)),
      opts.rules.onRulesChanged((current, _previous, addedOnActive) => this.onRulesChanged(current, addedOnActive)),
      streams.onChange((stream) => {
        const code = streamVerdict(stream);
        if (!code) return;
        // Viewers of a pulled stream (issue 13) end at once: the publisher this edge would wait for
        // is on another edge, which ends it now, and a locked or deleted stream cannot come back.
        for (const s of opts.table.ofStream(stream.name)) if (s.role === "publisher" || s.decision.pull) s.end(code);
      }),
    ];
  }

  /** An adapter's session passed its decision and is now running. */
  started(session: EdgeSession): void {
    this.opts.table.add(session);
    const token = session.decision.token;
    if (token) {
      let sessions = this.byToken.get(token.jti);
      if (!sessions) this.byToken.set(token.jti, (sessions = new Set()));
      sessions.add(session);
      if (token.forceDisconnect) this.armExpiry(session, token.exp * 1000);
    }
    if (session.role === "publisher") {
      this.report("live", session);
      this.revalidator.add(session);
    }
  }

  /** An adapter's session is over (for any reason, including an `end` asked for here). */
  ended(session: EdgeSession): void {
    if (!this.opts.table.remove(session)) return;
    const expiry = this.expiryTimers.get(session);
    if (expiry) this.clock.clearTimer(expiry);
    this.expiryTimers.delete(session);
    const jti = session.decision.token?.jti;
    const sessions = jti === undefined ? undefined : this.byToken.get(jti);
    sessions?.delete(session);
    if (jti !== undefined && sessions?.size === 0) this.byToken.delete(jti);
    if (session.role === "publisher") this.publishEnded(session);
  }

  /** Ends one session by id (DELETE /v1/sessions/:id); false when there is none. */
  end(id: string, code: ErrorCode = "EDGE_ERR_KICKED"): boolean {
    const session = this.opts.table.get(id);
    session?.end(code);
    return session !== undefined;
  }

  close(): void {
    for (const off of this.unsubscribe) off();
    this.revalidator.close();
    for (const timer of this.expiryTimers.values()) this.clock.clearTimer(timer);
    this.expiryTimers.clear();
    for (const timer of this.graceTimers) this.clock.clearTimer(timer);
    this.graceTimers.clear();
  }

  private onRevoked(jti: string): void {
    this.opts.events?.revoked?.();
    const sessions = this.byToken.get(jti);
    if (sessions) for (const s of [...sessions]) s.end("EDGE_ERR_TOKEN_REVOKED");
  }

  /**
   * Edge-wide, every session the rules now refuse ends; otherwise only those refused by a rule this
   * change added with its own enforceOnActive (the rule the refusal names: a session an older rule
   * was left running against stays, as that rule's author chose).
   */
  private onRulesChanged(current: unknown, addedOnActive?: ReadonlySet<string>): void {
    const all = this.opts.enforceRulesOnActive;
    if (!all && !addedOnActive?.size) return;
    const { rules, table } = this.opts;
    for (const s of table.all()) {
      // A relay's viewers are checked at their own edge, by that edge's copy of the rules (issue 13).
      if (s.role === "relay") continue;
      const verdict = rules.check(guardianRequest(s.request, s.decision), current);
      if (!verdict.allow && (all || addedOnActive!.has(verdict.ruleId))) s.end(GUARDIAN_ERRORS[verdict.kind]);
    }
  }

  /** Ends the session at `atMs` (wall clock), re-arming in steps a timer can hold. */
  private armExpiry(session: EdgeSession, atMs: number): void {
    const wait = atMs - this.clock.now();
    if (wait <= 0) return session.end("EDGE_ERR_TOKEN_EXPIRED");
    const step = Math.min(wait, MAX_TIMER_MS);
    this.expiryTimers.set(
      session,
      this.clock.setTimer(() => this.armExpiry(session, atMs), step),
    );
  }

  private publishEnded(publisher: EdgeSession): void {
    const { table, webhook, endGraceMs } = this.opts;
    this.revalidator.remove(publisher.id);
    webhook?.done(publisher);
    this.report("ended", publisher);
    this.opts.events?.publishEnded?.(publisher);
    // Players wait playback.endGraceMs for the encoder to come back (reconnects are common), then
    // are closed instead of hanging on a stream nobody feeds.
    const timer = this.clock.setTimer(() => {
      this.graceTimers.delete(timer);
      if (table.publisherOf(publisher.app, publisher.name)) return;
      for (const s of table.ofStream(publisher.name)) {
        // A relay ends too: its edge looks for the publisher again, wherever it came back (issue 13).
        if (s.role !== "publisher" && s.app === publisher.app) s.end("EDGE_ERR_PUBLISHER_GONE");
      }
    }, endGraceMs);
    this.graceTimers.add(timer);
  }

  private report(state: "live" | "ended", s: EdgeSession): void {
    const { streams, log } = this.opts;
    const done = state === "live" ? streams.reportLive(s.name) : streams.reportEnded(s.name);
    done.catch((err: Error) => log?.warn("stream state not reported", { stream: streamRef(s.name), state, detail: err.message }));
  }
}

/** The metric label of a re-check's result: where a kept session's answer came from, or why it ended. */
export const revalidationResult = (r: CheckResult): string => (r.keep ? r.source : ERRORS[r.code].reason);
