// What the access layer decides about and what it keeps of a running session. Every protocol —
// our RTMP and HTTP-FLV, a relay, a foreign media server's hook — ends in one AccessRequest.
import type { StreamInfo } from "../bintu/directory.js";
import type { ErrorCode } from "../errors.js";
import type { Query } from "../primitives/stream-key.js";

export interface AccessRequest {
  readonly action: "publish" | "play";
  /** "hook": a foreign media server asked through its auth hook (src/hooks, docs/hooks.md). */
  readonly protocol: "rtmp" | "flv" | "http" | "hook";
  readonly app: string;
  readonly name: string;
  readonly query: Query;
  readonly ip: string;
  /**
   * "here": this edge carries the media, so where the stream is live matters (a second publisher is
   * busy, a play needs a publisher). "elsewhere": another server carries it and only asks for the
   * decision (GET /v1/authorize/play, a foreign server's hook).
   */
  readonly media: "here" | "elsewhere";
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
  /** Unix seconds. */
  readonly exp: number;
  readonly forceDisconnect: boolean;
}

/**
 * `pull`: the stream is not live on this edge but may be pulled from the edge that carries it (issue 13);
 * the adapter starts or joins the pull and refuses with EDGE_ERR_STREAM_NOT_LIVE when none starts in time.
 */
export type Allowed = { readonly allow: true; readonly stream: StreamInfo; readonly token?: SessionToken; readonly pull?: true };
export type Denied = { readonly allow: false; readonly code: ErrorCode };
export type Decision = Allowed | Denied;

/** How clients reach an edge of the fleet (a routing table entry's `urls`). */
export type EdgeUrls = { readonly ingest?: string; readonly rtmp?: string; readonly flv?: string };

/**
 * Where a stream's publisher is: on this edge, on another edge of the fleet (with its URLs when the
 * fleet knows them; a foreign server's hook names none), or nowhere.
 */
export type StreamLocation = { readonly at: "here" } | { readonly at: "edge"; readonly edge: string; readonly urls?: EdgeUrls } | { readonly at: "nowhere" };

/** A running session as the policy sees it; the adapter that carries it fills `end`. */
export interface EdgeSession {
  readonly id: string;
  /**
   * "relay": another edge of the fleet pulling a stream published here (issue 13). It is counted
   * apart from players, and no viewer rule applies to it: its viewers were checked at their own edge.
   */
  readonly role: "publisher" | "player" | "relay";
  /** A relay: the id of the edge that pulls (from its credential). */
  readonly peer?: string;
  /** This edge's media protocol; a foreign session keeps its own in `foreign` and counts in no metric of this edge's media. */
  readonly protocol: "rtmp" | "flv";
  /**
   * Set for a session that runs on a foreign media server which asked through its auth hook (issue
   * 14): which server and the protocol it named. Absent = this edge carries the media.
   */
  readonly foreign?: { readonly server: string; readonly protocol: string };
  readonly app: string;
  readonly name: string;
  readonly ip: string;
  /** Wall-clock ms since the epoch (the policy's clock). */
  readonly startedAt: number;
  bytesIn(): number;
  bytesOut(): number;
  /** Ends the session now: socket destroyed, nothing more read or written. The adapter's only duty. */
  end(code: ErrorCode): void;
  /** What was decided at the start, kept so a later change (revocation, new rule) can re-decide. */
  readonly request: AccessRequest;
  readonly decision: Allowed;
}
