// The one table of stable error codes (docs/architecture.md §4). A code is never reused or renamed: clients,
// dashboards and alerts key on it. `reason` is the metric label (a closed set); `http` is what an
// HTTP player or API caller gets; `rtmp` is the onStatus code an RTMP client gets for publish / play
// (null where the connection is closed without a status, e.g. a protocol violation).
// test/errors.test.ts checks this table against the README.

export interface ErrorSpec {
  readonly http: number;
  readonly rtmpPublish: string | null;
  readonly rtmpPlay: string | null;
  readonly reason: string;
  readonly message: string;
}

const spec = (http: number, rtmpPublish: string | null, rtmpPlay: string | null, reason: string, message: string): ErrorSpec => ({
  http,
  rtmpPublish,
  rtmpPlay,
  reason,
  message,
});

const BAD_NAME = "NetStream.Publish.BadName";
const UNAUTHORIZED = "NetStream.Publish.Unauthorized";
const NOT_FOUND = "NetStream.Play.StreamNotFound";
const PLAY_FAILED = "NetStream.Play.Failed";
const PLAY_UNAUTHORIZED = "NetStream.Play.Unauthorized";

export const ERRORS = {
  // Stream key / stream state (bintu)
  EDGE_ERR_STREAM_UNKNOWN: spec(404, BAD_NAME, NOT_FOUND, "unknown_stream", "no such stream"),
  EDGE_ERR_STREAM_LOCKED: spec(403, UNAUTHORIZED, PLAY_FAILED, "locked", "stream is locked"),
  EDGE_ERR_STREAM_DELETED: spec(403, UNAUTHORIZED, NOT_FOUND, "deleted", "stream was deleted"),
  EDGE_ERR_STREAM_NOT_LIVE: spec(404, null, NOT_FOUND, "not_live", "stream is not live on this edge"),
  EDGE_ERR_STREAM_BUSY: spec(409, BAD_NAME, null, "already_publishing", "stream already has a publisher"),
  EDGE_ERR_BINTU_UNAVAILABLE: spec(503, UNAUTHORIZED, PLAY_FAILED, "bintu_unavailable", "stream directory unavailable"),
  EDGE_ERR_WEBHOOK_DENIED: spec(403, UNAUTHORIZED, null, "webhook_denied", "refused by the organisation webhook"),
  EDGE_ERR_PUBLISH_RATE_LIMITED: spec(429, UNAUTHORIZED, null, "publish_rate_limited", "too many failed publishes from this address"),
  // Playback tokens (issue 6): 401 = no usable token, 403 = a valid token that does not cover this play
  EDGE_ERR_TOKEN_MISSING: spec(401, null, PLAY_UNAUTHORIZED, "token_missing", "playback token required"),
  EDGE_ERR_TOKEN_INVALID: spec(401, null, PLAY_UNAUTHORIZED, "token_invalid", "playback token invalid"),
  EDGE_ERR_TOKEN_EXPIRED: spec(401, null, PLAY_UNAUTHORIZED, "token_expired", "playback token expired or not yet valid"),
  EDGE_ERR_TOKEN_REVOKED: spec(401, null, PLAY_UNAUTHORIZED, "token_revoked", "playback token revoked"),
  EDGE_ERR_TOKEN_SCOPE: spec(403, null, PLAY_FAILED, "token_scope", "playback token does not cover this stream"),
  EDGE_ERR_TOKEN_IP: spec(403, null, PLAY_FAILED, "token_ip", "playback token is bound to another IP"),
  EDGE_ERR_TOKEN_DOMAIN: spec(403, null, PLAY_FAILED, "token_domain", "playback token is bound to another domain"),
  // Guardian rules (issue 5)
  EDGE_ERR_GUARDIAN_IP: spec(403, UNAUTHORIZED, PLAY_FAILED, "guardian_ip", "address blocked by a Guardian rule"),
  EDGE_ERR_GUARDIAN_REFERER: spec(403, UNAUTHORIZED, PLAY_FAILED, "guardian_referer", "referrer blocked by a Guardian rule"),
  EDGE_ERR_GUARDIAN_COUNTRY: spec(403, UNAUTHORIZED, PLAY_FAILED, "guardian_country", "country blocked by a Guardian rule"),
  // What the client named
  EDGE_ERR_BAD_APP: spec(404, BAD_NAME, NOT_FOUND, "bad_app", "unknown application"),
  EDGE_ERR_BAD_NAME: spec(400, BAD_NAME, NOT_FOUND, "bad_name", "invalid stream name"),
  EDGE_ERR_BAD_QUERY: spec(400, BAD_NAME, NOT_FOUND, "bad_query", "invalid query string"),
  EDGE_ERR_BAD_REQUEST: spec(400, null, null, "bad_request", "malformed request"),
  // Connection-level refusals and closes (issue 3)
  EDGE_ERR_PROTOCOL: spec(400, null, null, "protocol", "RTMP protocol violation"),
  EDGE_ERR_MESSAGE_TOO_LARGE: spec(413, null, null, "message_too_large", "RTMP message exceeds rtmp.limits.maxMessageSize"),
  EDGE_ERR_BUFFER_LIMIT: spec(413, null, null, "buffer_limit", "buffered RTMP data exceeds rtmp.limits.maxBufferedBytes"),
  EDGE_ERR_TOO_MANY_CHUNK_STREAMS: spec(400, null, null, "too_many_chunk_streams", "more chunk streams than rtmp.limits.maxChunkStreams"),
  EDGE_ERR_BAD_CHUNK_SIZE: spec(400, null, null, "bad_chunk_size", "chunk size outside 1..rtmp.limits.maxChunkSize"),
  EDGE_ERR_HANDSHAKE_TIMEOUT: spec(408, null, null, "handshake_timeout", "no RTMP connect within rtmp.limits.handshakeTimeoutMs"),
  EDGE_ERR_COMMAND_TIMEOUT: spec(408, null, null, "command_timeout", "no publish or play within rtmp.limits.commandTimeoutMs"),
  EDGE_ERR_IDLE_TIMEOUT: spec(408, null, null, "idle_timeout", "no traffic within idleTimeoutMs of this port (rtmp.limits, playback, api)"),
  EDGE_ERR_TOO_MANY_CONNECTIONS: spec(503, null, null, "too_many_connections", "maxConnections of this port reached (rtmp.limits, playback, api)"),
  EDGE_ERR_TOO_MANY_CONNECTIONS_IP: spec(429, null, null, "too_many_connections_ip", "maxConnectionsPerIp of this port reached (rtmp.limits, playback, api)"),
  EDGE_ERR_SLOW_CONSUMER: spec(503, null, null, "slow_consumer", "player fell behind by more than playback.maxPendingBytes"),
  // Session ends decided by the edge
  EDGE_ERR_KICKED: spec(410, null, null, "kicked", "session ended by an operator"),
  EDGE_ERR_PUBLISHER_GONE: spec(410, null, null, "publisher_gone", "the stream's publisher left"),
  EDGE_ERR_SHUTDOWN: spec(503, null, null, "shutdown", "edge is shutting down"),
  EDGE_ERR_INTERNAL: spec(500, null, null, "internal", "internal error"),
  // Control API
  EDGE_ERR_UNAUTHORIZED: spec(401, null, null, "unauthorized", "missing or invalid API key"),
  EDGE_ERR_FORBIDDEN: spec(403, null, null, "forbidden", "role may not do this"),
  EDGE_ERR_NOT_FOUND: spec(404, null, null, "not_found", "no such resource"),
  EDGE_ERR_BODY_TOO_LARGE: spec(413, null, null, "body_too_large", "request body exceeds api.bodyLimit"),
  EDGE_ERR_UNSUPPORTED_MEDIA_TYPE: spec(415, null, null, "unsupported_media_type", "unsupported Content-Type"),
  // Foreign media servers' auth hooks (issue 14, docs/hooks.md)
  EDGE_ERR_HOOK_CALLER: spec(403, null, null, "hook_caller", "hook caller not in hooks.allowFrom"),
  EDGE_ERR_HOOK_SECRET: spec(401, null, null, "hook_secret", "missing or wrong hooks.secret"),
  EDGE_ERR_HOOK_ACTION: spec(403, null, null, "hook_action", "hook action the edge does not decide"),
  // Any HTTP port (issue 18): what Node's parser and the router refuse, in the same envelope
  EDGE_ERR_METHOD_NOT_ALLOWED: spec(405, null, null, "method_not_allowed", "method not served on this port"),
  EDGE_ERR_REQUEST_TIMEOUT: spec(408, null, null, "request_timeout", "request not received within headersTimeoutMs / requestTimeoutMs"),
  EDGE_ERR_URI_TOO_LONG: spec(414, null, null, "uri_too_long", "a path segment is too long"),
  EDGE_ERR_HEADERS_TOO_LARGE: spec(431, null, null, "headers_too_large", "request line and headers exceed 16 KiB"),
  // Routing (issue 7)
  EDGE_ERR_NO_EDGE: spec(503, null, null, "no_edge", "no eligible edge"),
  // Fleet (issue 12): an admin write that needs Redis while it is down or past its deadline
  EDGE_ERR_CLUSTER_UNAVAILABLE: spec(503, null, null, "cluster_unavailable", "fleet state (Redis) unavailable"),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An error carrying a stable code; thrown and caught inside the edge, rendered by the adapters. */
export class EdgeError extends Error {
  constructor(
    readonly code: ErrorCode,
    detail?: string,
  ) {
    super(detail ? `${ERRORS[code].message}: ${detail}` : ERRORS[code].message);
  }
}

/** The JSON body an HTTP client gets for a refusal: `{ code, reason }` (docs/architecture.md §2). */
export function errorBody(code: ErrorCode, detail?: string): { code: ErrorCode; reason: string } {
  return { code, reason: detail ? `${ERRORS[code].message}: ${detail}` : ERRORS[code].message };
}
