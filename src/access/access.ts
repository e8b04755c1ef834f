// The one place that knows the order of checks for a new session (docs/architecture.md, src/access).
// `decide` is pure; `AccessControl.check` does the lookups it needs through its ports and hands
// their answers to `decide`. Running sessions are re-decided by the live-session policy
// (live-session-policy.ts) with the same pieces: guardianRequest and streamVerdict.
import type { StreamInfo } from "../bintu/directory.js";
import { checkPlayClaims } from "../auth/splay.js";
import { GUARDIAN_ERRORS, type GuardianRequest } from "../guardian/guardian.js";
import { EdgeError, type ErrorCode } from "../errors.js";
import type { FailedPublishBudget, PublishClaim, PublishWebhook, RuleCheck, StreamLocator, StreamLookup, TokenCheck } from "./ports.js";
import type { AccessRequest, Allowed, Decision, StreamLocation } from "./types.js";

export type { AccessRequest, Allowed, Decision, EdgeSession, SessionToken, StreamLocation } from "./types.js";

const deny = (code: ErrorCode): Decision => ({ allow: false, code });

/** What Guardian rules look at; also used to re-check running sessions when rules change. */
export function guardianRequest(req: AccessRequest, allowed: Pick<Allowed, "stream"> | null): GuardianRequest {
  const { action, ip, referer, origin, protocol } = req; // protocol: named in the would-deny log only
  return { action, ip, referer, origin, stream: req.name, tags: allowed?.stream.tags ?? [], protocol };
}

/** The code a known stream's state refuses (or ends) a session with; null while it may be live. */
export function streamVerdict(stream: StreamInfo): ErrorCode | null {
  if (stream.state === "locked") return "EDGE_ERR_STREAM_LOCKED";
  if (stream.state === "deleted") return "EDGE_ERR_STREAM_DELETED";
  return null;
}

/**
 * Which plays of a stream not live here this edge serves by pulling it (issue 13): none (a single
 * edge), those the fleet locates on another edge, or any (static `cluster.origins` are asked).
 */
export type PullMode = "none" | "located" | "any";

/**
 * The stream part of a decision, pure: application, the stream's state, and — when this edge
 * carries the media — where the stream is live. A publish is busy wherever the key is live (here
 * or on another edge of the fleet); a play here needs the publisher here, or a pull (`pulls`).
 */
export function decide(req: AccessRequest, apps: readonly string[], stream: StreamInfo | null, location: StreamLocation, pulls: PullMode = "none"): Decision {
  if (!apps.includes(req.app)) return deny("EDGE_ERR_BAD_APP");
  if (!stream) return deny("EDGE_ERR_STREAM_UNKNOWN");
  const refused = streamVerdict(stream);
  if (refused) return deny(refused);
  if (req.media === "elsewhere") return { allow: true, stream };
  if (req.action === "publish") return location.at === "nowhere" ? { allow: true, stream } : deny("EDGE_ERR_STREAM_BUSY");
  if (location.at === "here") return { allow: true, stream };
  // A foreign server's stream (a hook's session, no URLs) cannot be pulled: only an edge's can.
  const pullable = pulls === "any" || (pulls === "located" && location.at === "edge" && location.urls?.flv !== undefined);
  return pullable ? { allow: true, stream, pull: true } : deny("EDGE_ERR_STREAM_NOT_LIVE");
}

export interface AccessControlOptions {
  streams: StreamLookup;
  locator: StreamLocator;
  apps: readonly string[];
  limiter: FailedPublishBudget;
  webhook: Pick<PublishWebhook, "publish"> | null;
  /** Plays of streams live elsewhere that this edge pulls (issue 13); default none. */
  pulls?: PullMode;
  /** A fleet's ownership of stream keys (issue 12 §2); absent on a single edge. */
  claim?: PublishClaim | null;
  /** IP / CIDR / referrer / country rules (issue 5). */
  rules: Pick<RuleCheck, "decide" | "needsTags">;
  /** Set when every play needs a token (`auth.playback.required`). */
  tokens: TokenCheck | null;
  /** The organisation hash: an `orgawide` token covers its streams. */
  org: string;
  /** Monotonic milliseconds (the limiter's clock). */
  now?: () => number;
  /** Unix seconds (token expiry). */
  nowSec?: () => number;
  /** Every decision with the milliseconds it took (the latency histogram), whatever the protocol. */
  onDecided?: (req: AccessRequest, decision: Decision, ms: number) => void;
}

// A failed publish of these kinds spends the client's brute-force budget; a busy stream or an
// unreachable bintu is not the client's doing.
const PUBLISH_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "EDGE_ERR_STREAM_UNKNOWN",
  "EDGE_ERR_STREAM_LOCKED",
  "EDGE_ERR_STREAM_DELETED",
  "EDGE_ERR_BAD_APP",
  "EDGE_ERR_BAD_NAME",
  "EDGE_ERR_BAD_QUERY",
  "EDGE_ERR_WEBHOOK_DENIED",
]);

const NOT_ASKED: StreamLocation = { at: "nowhere" };

/**
 * Order of checks, cheapest refusal first: application, the client's failed-publish budget (no
 * lookup for a blocked scanner), Guardian rules (in-memory tables), the stream's state from the
 * directory (cached), where the stream is live (memory), then the playback token (a signature check,
 * cached) for a play, or — for an allowed publish — the fleet's claim on the key (one Redis round
 * trip, issue 12) and the organisation webhook (a network call).
 *
 * A refused address learns nothing about keys (issue 18 §5): the budget and the Guardian are
 * decided before anything about the stream is told, so an unknown, a locked, a live and a busy key
 * get the same refusal. Guardian rules are decided *before the lookup* when none in force for the
 * action is tag-scoped (the address-level refusal: it keys only on what the client sent); when one
 * is, the lookup runs first for the tags — an unknown key is decided with no tags — and the
 * Guardian still answers before the stream's state. Only a tag-scoped rule tells a key apart: it
 * refuses the streams that carry its tag.
 */
export class AccessControl {
  private readonly now: () => number;
  private readonly nowSec: () => number;

  constructor(private readonly opts: AccessControlOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.nowSec = opts.nowSec ?? (() => Math.floor(Date.now() / 1000));
  }

  async check(req: AccessRequest): Promise<Decision> {
    const started = this.now();
    const decision = await this.decideAll(req);
    this.opts.onDecided?.(req, decision, this.now() - started);
    return decision;
  }

  private async decideAll(req: AccessRequest): Promise<Decision> {
    const decision = await this.decideStream(req);
    if (req.action === "play") return decision.allow ? this.checkToken(req, decision) : decision;
    if (!decision.allow) return this.publishFailed(req, decision.code);
    // The fleet's claim before the webhook: the claim is one Redis round trip under a short deadline,
    // the webhook a network call with a side effect at the organisation (it learns of a publish), so
    // two encoders racing for one key are settled before the organisation hears of either.
    const { claim, webhook } = this.opts;
    const session = req.media === "here" ? req.clientId : undefined;
    if (claim && session !== undefined && (await claim.claim(req.app, req.name, session)) === "busy") return this.publishFailed(req, "EDGE_ERR_STREAM_BUSY");
    if (webhook && (await webhook.publish(req)) === "deny") {
      if (claim && session !== undefined) claim.release(req.app, req.name, session);
      return this.publishFailed(req, "EDGE_ERR_WEBHOOK_DENIED");
    }
    return decision;
  }

  /** Guardian rules: pure and in-memory; `stream` is null before the lookup or for an unknown key. */
  private refusedByRules(req: AccessRequest, stream: StreamInfo | null): Decision | null {
    const verdict = this.opts.rules.decide(guardianRequest(req, stream && { stream }));
    return verdict.allow ? null : deny(GUARDIAN_ERRORS[verdict.kind]);
  }

  private checkToken(req: AccessRequest, allowed: Allowed): Decision {
    const { tokens, org } = this.opts;
    if (!tokens) return allowed;
    const token = req.query.jwtoken;
    if (!token) return deny("EDGE_ERR_TOKEN_MISSING");
    const verified = tokens.verify(token, this.nowSec());
    if (!verified.ok) return deny(verified.code);
    const { claims } = verified;
    const refused = checkPlayClaims(claims, {
      stream: req.name,
      streamId: allowed.stream.id,
      org,
      ip: req.ip,
      referer: req.referer,
      origin: req.origin,
    });
    if (refused) return deny(refused);
    return { ...allowed, token: { jti: claims.jti, exp: claims.exp, forceDisconnect: claims.forceDisconnect === true } };
  }

  /** A name the client may be asked about again, with failures counted for publishes. */
  private publishFailed(req: AccessRequest, code: ErrorCode): Decision {
    if (PUBLISH_FAILURES.has(code)) this.opts.limiter.recordFailure(req.ip, this.now());
    return deny(code);
  }

  private async decideStream(req: AccessRequest): Promise<Decision> {
    const { apps, limiter, streams, locator } = this.opts;
    if (!apps.includes(req.app)) return deny("EDGE_ERR_BAD_APP");
    if (req.action === "publish" && limiter.blocked(req.ip, this.now())) return deny("EDGE_ERR_PUBLISH_RATE_LIMITED");
    const rulesFirst = !this.opts.rules.needsTags(req.action);
    const early = rulesFirst ? this.refusedByRules(req, null) : null;
    if (early) return early;
    let stream: StreamInfo | null;
    try {
      stream = await streams.lookup(req.name);
    } catch (err) {
      // Fail closed (docs/decisions.md §4): an unreachable directory never allows.
      return deny(err instanceof EdgeError ? err.code : "EDGE_ERR_BINTU_UNAVAILABLE");
    }
    const late = rulesFirst ? null : this.refusedByRules(req, stream);
    if (late) return late;
    // Located after the lookup's await: a publisher that arrived meanwhile is seen.
    return decide(req, apps, stream, req.media === "here" ? locator.locate(req.app, req.name) : NOT_ASKED, this.opts.pulls);
  }
}
