// The one place that knows the order of checks (DESIGN.md §1 src/access). `decide` is pure;
// `AccessControl.check` does the lookups it needs and hands their answers to `decide`.
// Tokens (issue 6) and Guardian rules (issue 5) plug in here.
import type { StreamDirectory, StreamInfo } from "../bintu/directory.js";
import type { PlaybackTokens } from "../auth/playback-tokens.js";
import { checkPlayClaims } from "../auth/splay.js";
import { GUARDIAN_ERRORS, type Guardian, type GuardianRequest } from "../guardian/guardian.js";
import type { OrgWebhook } from "./org-webhook.js";
import type { PublishLimiter } from "./publish-limiter.js";
import { EdgeError, type ErrorCode } from "../errors.js";
import type { Query } from "../primitives/stream-key.js";

export interface AccessRequest {
  readonly action: "publish" | "play";
  readonly protocol: "rtmp" | "flv" | "http";
  readonly app: string;
  readonly name: string;
  readonly query: Query;
  readonly ip: string;
  /**
   * Whether this edge has a publisher on the stream right now; absent when another server serves
   * the media and only asks for the decision (GET /v1/authorize/play).
   */
  readonly liveHere?: boolean;
  /** HTTP players only: the page that embeds the player (Guardian referrer rules, token domains). */
  readonly referer?: string;
  readonly origin?: string;
  /** RTMP publishers: the edge's session id and the connect tcUrl, for the webhook. */
  readonly clientId?: string;
  readonly tcUrl?: string;
}

/** The playback token a play was allowed with: its session ends on revocation (and at `exp` with forceDisconnect). */
export interface SessionToken {
  readonly jti: string;
  readonly exp: number;
  readonly forceDisconnect: boolean;
}

export type Allowed = { allow: true; stream: StreamInfo; token?: SessionToken };
export type Decision = Allowed | { allow: false; code: ErrorCode };

const deny = (code: ErrorCode): Decision => ({ allow: false, code });

/** What Guardian rules look at; also used to re-check running sessions when rules change. */
export function guardianRequest(req: AccessRequest, allowed: Allowed): GuardianRequest {
  return { action: req.action, ip: req.ip, referer: req.referer, origin: req.origin, stream: req.name, tags: allowed.stream.tags };
}

export function decide(req: AccessRequest, apps: readonly string[], stream: StreamInfo | null): Decision {
  if (!apps.includes(req.app)) return deny("EDGE_ERR_BAD_APP");
  if (!stream) return deny("EDGE_ERR_STREAM_UNKNOWN");
  if (stream.state === "deleted") return deny("EDGE_ERR_STREAM_DELETED");
  if (stream.state === "locked") return deny("EDGE_ERR_STREAM_LOCKED");
  if (req.action === "publish") return req.liveHere ? deny("EDGE_ERR_STREAM_BUSY") : { allow: true, stream };
  return req.liveHere === false ? deny("EDGE_ERR_STREAM_NOT_LIVE") : { allow: true, stream };
}

export interface AccessControlOptions {
  directory: StreamDirectory;
  apps: readonly string[];
  limiter: PublishLimiter;
  webhook: OrgWebhook | null;
  /** IP / CIDR / referrer / country rules (issue 5). */
  guardian: Guardian;
  /** Set when every play needs a token (`auth.playback.required`). */
  tokens: PlaybackTokens | null;
  /** The organisation hash: an `orgawide` token covers its streams. */
  org: string;
  /** Monotonic milliseconds (the limiter's clock). */
  now?: () => number;
  /** Unix seconds (token expiry). */
  nowSec?: () => number;
}

// A failed publish of these kinds spends the client's brute-force budget; a busy stream or an
// unreachable bintu is not the client's doing.
const PUBLISH_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "EDGE_ERR_STREAM_UNKNOWN", "EDGE_ERR_STREAM_LOCKED", "EDGE_ERR_STREAM_DELETED",
  "EDGE_ERR_BAD_APP", "EDGE_ERR_BAD_NAME", "EDGE_ERR_BAD_QUERY", "EDGE_ERR_WEBHOOK_DENIED",
]);

/**
 * Order of checks, cheapest refusal first: application, the client's failed-publish budget (no
 * lookup for a blocked scanner), the stream's state from the directory (cached), liveness on this
 * edge, Guardian rules (in-memory tables), then the playback token (a signature check, cached) for
 * a play, or the organisation webhook (a network call) for an allowed publish.
 */
export class AccessControl {
  private readonly now: () => number;
  private readonly nowSec: () => number;

  constructor(private readonly opts: AccessControlOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.nowSec = opts.nowSec ?? (() => Math.floor(Date.now() / 1000));
  }

  async check(req: AccessRequest): Promise<Decision> {
    const stream = await this.decideStream(req);
    const decision = stream.allow ? this.checkRules(req, stream) : stream;
    if (req.action === "play") return decision.allow ? this.checkToken(req, decision) : decision;
    if (decision.allow && this.opts.webhook && (await this.opts.webhook.publish(req)) === "deny") {
      return this.publishFailed(req, "EDGE_ERR_WEBHOOK_DENIED");
    }
    return decision.allow ? decision : this.publishFailed(req, decision.code);
  }

  /** Guardian rules: pure and in-memory, after the lookup because tag-scoped rules need the stream's tags. */
  private checkRules(req: AccessRequest, allowed: Allowed): Decision {
    const verdict = this.opts.guardian.decide(guardianRequest(req, allowed));
    return verdict.allow ? allowed : deny(GUARDIAN_ERRORS[verdict.kind]);
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
      stream: req.name, streamId: allowed.stream.id, org, ip: req.ip, referer: req.referer, origin: req.origin,
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
    const { apps, limiter, directory } = this.opts;
    if (!apps.includes(req.app)) return deny("EDGE_ERR_BAD_APP");
    if (req.action === "publish" && limiter.blocked(req.ip, this.now())) return deny("EDGE_ERR_PUBLISH_RATE_LIMITED");
    try {
      return decide(req, apps, await directory.lookup(req.name));
    } catch (err) {
      // Fail closed (DESIGN.md §4): an unreachable directory never allows.
      return deny(err instanceof EdgeError ? err.code : "EDGE_ERR_BINTU_UNAVAILABLE");
    }
  }
}
