// The ports of the access layer, declared here by the code that uses them (docs/architecture.md
// §3: consumers declare the interfaces they need). One edge fills them in-process (src/server.ts picks the
// implementations); a fleet fills some of them from Redis, a foreign media server's hooks reach the
// same decision. Nothing here is I/O: these are shapes.
import type { Lookup, StreamInfo } from "../bintu/directory.js";
import type { SplayVerification } from "../auth/splay.js";
import type { Decision as RuleVerdict } from "../guardian/snapshot.js";
import type { GuardianRequest } from "../guardian/guardian.js";
import type { AccessRequest, EdgeSession, StreamLocation } from "./types.js";

/** The stream directory as a new session needs it (StreamDirectory: cache in front of bintu). */
export interface StreamLookup {
  /** Null: no such stream. Throws EdgeError when bintu cannot answer (the caller fails closed). */
  lookup(name: string): Promise<StreamInfo | null>;
}

/** The stream directory as running sessions need it: re-checks, pushed changes, state reports. */
export interface StreamWatch {
  resolve(name: string, opts: { fresh: boolean }): Promise<Lookup>;
  /** Locks and deletes pushed by the registry (embedded mode); remote mode learns them by re-checks. */
  onChange(listener: (stream: StreamInfo) => void): () => void;
  reportLive(name: string): Promise<void>;
  reportEnded(name: string): Promise<void>;
}

/**
 * Where a stream's publisher is. One edge answers from its session table (SessionTable.locate); a
 * fleet answers from its replica of the owner records, never by waiting on Redis.
 */
export interface StreamLocator {
  locate(app: string, name: string): StreamLocation;
}

/**
 * One live publisher per stream key in a fleet (issue 12 §2): asked once every other check of a
 * publish here passed. "busy": another edge holds the key. "unavailable": the fleet could not answer
 * within its deadline (Redis down or slow) — the publish goes on, and the fleet settles who keeps
 * the key once it answers again. `release` is fire-and-forget: a claim whose session ended, or
 * never started, is given back.
 */
export interface PublishClaim {
  claim(app: string, name: string, sessionId: string): Promise<"ok" | "busy" | "unavailable">;
  release(app: string, name: string, sessionId: string): void;
}

/** IP / CIDR / referrer / country rules (the Guardian). `Rules` is the compiled rule set, opaque here. */
export interface RuleCheck<Rules = unknown> {
  /** A new session: decided and counted. */
  decide(req: GuardianRequest): RuleVerdict;
  /**
   * Whether a rule in force for this action is scoped to a tag, so that deciding needs the stream's
   * tags (a directory lookup). Without one, rules key only on what the client sent (address,
   * referrer, country, the name) and are decided before the lookup (issue 18 §5).
   */
  needsTags(action: GuardianRequest["action"]): boolean;
  /** A running session against a given rule set, not counted. */
  check(req: GuardianRequest, rules: Rules): RuleVerdict;
  /**
   * After every change: the rules now in force, the previous ones, and the ids of the rules the
   * change added with `enforceOnActive` (issue 16 §5) — running sessions those refuse end even
   * without guardian.enforceOnActive.
   */
  onRulesChanged(listener: (current: Rules, previous?: Rules, addedOnActive?: ReadonlySet<string>) => void): () => void;
}

/** Playback token verification (signature, claims, time, revocation). */
export interface TokenCheck {
  verify(token: string, nowSec: number): SplayVerification;
}

/** The revocation list as running sessions need it: told of each new revocation, wherever it came from. */
export interface RevocationFeed {
  onRevoke(listener: (jti: string) => void): () => void;
}

/** The organisation webhook (nginx-rtmp on_publish semantics): asked before, during and after a publish. */
export interface PublishWebhook {
  publish(req: AccessRequest): Promise<"allow" | "deny">;
  update(session: EdgeSession, elapsedMs: number): Promise<"allow" | "deny">;
  /** Fire and forget: the session is over whatever the receiver says. */
  done(session: EdgeSession): void;
}

/** The failed-publish budget per client address (brute-force brake on stream keys). */
export interface FailedPublishBudget {
  blocked(ip: string, nowMs: number): boolean;
  recordFailure(ip: string, nowMs: number): void;
}

/**
 * Time for the policy: wall-clock milliseconds and timers. Injected so tests drive expiry without
 * sleeping (test/access/fake-clock.ts).
 */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): Timer;
  clearTimer(timer: Timer): void;
}

/** A timer handle: whatever the clock's setTimer returned. */
export type Timer = object;

export const systemClock: Clock = {
  now: () => Date.now(),
  // Unref: a pending expiry or re-check never keeps the process alive on its own; sockets do.
  setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout),
};
