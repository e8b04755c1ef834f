// The one table of compatibility wire codes (issue 11 §7), as src/errors.ts is for EDGE_ERR_*: the
// numbers and messages a client of a nanoStream-compatible API gets, and the envelope of each route
// family. Domain modules return typed refusals (a closed string union or an EDGE_ERR code); only
// src/http names a row here. test/http/wire-codes.test.ts checks the table against the README.
//
// Families and their envelopes:
// - bintu (`/stream…`): `{"error":{"message","code","userinfo"}}`, bintu's own (docs/nanostream.md §1.4).
// - guardian (`/guardian…`): the same envelope. nanoStream documents no Guardian error body; its
//   Guardian API takes bintu's key (docs/nanostream.md §3), so it answers as bintu does.
// - splay (`/api/v1/splay…`): `{"success":false,"errorCode","message"}` (docs/nanostream.md §2.2).
// - edge (`/v1/…`, `/healthz`, …): `{ code, reason }` with an EDGE_ERR_* code (src/errors.ts).
import type { FastifyError, FastifyReply } from "fastify";
import { ERRORS, errorBody, type ErrorCode } from "../errors.js";

export type WireFamily = "bintu" | "guardian" | "splay";
/** Every family of routes on the API port: the compatibility ones and the edge's own. */
export type RouteFamily = WireFamily | "edge";

export interface WireSpec {
  readonly http: number;
  readonly code: number;
  readonly message: string;
  /** When a client gets it: the README's last column. */
  readonly when: string;
}

const wire = (http: number, code: number, message: string, when: string): WireSpec => ({ http, code, message, when });

// Rows bintu and the Guardian API share have the same numbers; each family lists its own so the
// README says, per API, everything a client of it can get.
const PARAMETER_REQUIRED = "a required field is missing; `userinfo.required_parameter` names it";
const WRONG_DATA_TYPE = "a field, the query or the body is malformed; `userinfo` says which and why";
const BAD_CREDENTIALS = "no `X-BINTU-APIKEY`, or not a valid one";
const ACCESS_DENIED = "the key's role may not do this";
// bintu documents no answer for these: its nearest code, under the HTTP status fastify chose.
const BODY_TOO_LARGE = "a body over `api.bodyLimit`; `userinfo.reason` says so";
const UNSUPPORTED_MEDIA_TYPE = "a body of a Content-Type the API does not read; `userinfo.reason` says so";
// Not a bintu code (it documents none for this): the HTTP status, as the token service does.
const INTERNAL = "an unexpected server error";
// Neither documents a fleet: the HTTP status, as for internal errors (EDGE_ERR_CLUSTER_UNAVAILABLE on /v1).
const CLUSTER_UNAVAILABLE = "a fleet edge whose Redis cannot take the write (down or past `cluster.commandTimeoutMs`); nothing changed";

export const WIRE_CODES = {
  bintu: {
    parameter_required: wire(400, 1002, "Parameter required", PARAMETER_REQUIRED),
    wrong_data_type: wire(400, 1004, "Wrong Data Type", WRONG_DATA_TYPE),
    bad_credentials: wire(401, 4002, "User Credentials are not valid", BAD_CREDENTIALS),
    access_denied: wire(403, 2001, "Access denied", ACCESS_DENIED),
    // bintu documents no answer for an unknown stream id; 404 with 3004 is our choice.
    stream_not_found: wire(404, 3004, "Stream not found", "unknown, deleted or malformed stream id (3004 is ours)"),
    body_too_large: wire(413, 1004, "Wrong Data Type", BODY_TOO_LARGE),
    unsupported_media_type: wire(415, 1004, "Wrong Data Type", UNSUPPORTED_MEDIA_TYPE),
    internal: wire(500, 500, "Internal error", INTERNAL),
  },
  guardian: {
    parameter_required: wire(400, 1002, "Parameter required", PARAMETER_REQUIRED),
    wrong_data_type: wire(400, 1004, "Wrong Data Type", WRONG_DATA_TYPE),
    bad_credentials: wire(401, 4002, "User Credentials are not valid", BAD_CREDENTIALS),
    access_denied: wire(403, 2001, "Access denied", ACCESS_DENIED),
    rule_in_file: wire(403, 2001, "Access denied", "deleting a rule of the rules file; `userinfo.reason` says so"),
    // bintu documents no code for an unknown rule; 404 with 3005 is our choice (3004 = stream).
    rule_not_found: wire(404, 3005, "Rule not found", "unknown rule kind or rule id (3005 is ours)"),
    // nanoStream documents no rule limit; 409 with 3006 is ours: delete rules, then add.
    rule_limit: wire(409, 3006, "Rule limit reached", "adding a rule past `guardian.maxRules`; `userinfo.max` says the limit (3006 is ours)"),
    body_too_large: wire(413, 1004, "Wrong Data Type", BODY_TOO_LARGE),
    unsupported_media_type: wire(415, 1004, "Wrong Data Type", UNSUPPORTED_MEDIA_TYPE),
    internal: wire(500, 500, "Internal error", INTERNAL),
    cluster_unavailable: wire(503, 503, "Cluster unavailable", CLUSTER_UNAVAILABLE),
  },
  splay: {
    // The message names the field after a colon: "Parameter required: exp (unix seconds)".
    parameter_required: wire(400, 1000, "Parameter required", "an issue body that is not valid, or no `token`; the field follows a colon"),
    body_too_large: wire(413, 1000, "Parameter required: a smaller body", "a body over `api.bodyLimit`"),
    unsupported_media_type: wire(415, 1000, "Parameter required: Content-Type application/json", "a body of a Content-Type the API does not read"),
    api_key_invalid: wire(403, 1001, "Provided APIKey is not valid", "issue or revoke without a key of role nanoUser or nanoAdmin"),
    jwt_expired: wire(403, 1002, "jwt expired", "verify: expired or not yet valid; revoke: more than 24 h after `exp`"),
    jwt_revoked: wire(403, 2004, "jwt revoked", "verify: the token was revoked"),
    jwt_invalid: wire(403, 2004, "Malformed JWT", "verify: signature, issuer or claims not valid"),
    // nanoStream documents 400 for 2011 (docs/nanostream.md §2.2); the statuses of 2004 and 2012 on
    // revoke are ours: 400 for what the body holds, 403 for a token this organisation may not touch.
    revoke_malformed: wire(400, 2004, "Malformed JWT", "revoke: signature, issuer or claims not valid"),
    not_revocable: wire(400, 2011, "The token is not allowed for revocation", "revoke: the token was not issued `revocable`"),
    other_org: wire(403, 2012, "The token belongs to another organisation", "revoke: another organisation's token"),
    // nanoStream documents no code for this: the HTTP status, in the same envelope.
    internal: wire(500, 500, "Internal error", INTERNAL),
    cluster_unavailable: wire(503, 503, "Cluster unavailable", CLUSTER_UNAVAILABLE),
  },
} as const satisfies { [F in WireFamily]: Record<string, WireSpec> };

export type WireKind<F extends WireFamily> = keyof (typeof WIRE_CODES)[F] & string;

interface BintuErrorBody {
  error: { message: string; code: number; userinfo: Record<string, unknown> };
}

/** bintu's envelope `{"error":{"message","code","userinfo"}}`: the bintu and Guardian families. */
export function sendBintuEnvelope<F extends "bintu" | "guardian">(
  reply: FastifyReply,
  family: F,
  kind: WireKind<F>,
  userinfo: Record<string, unknown> = {},
): FastifyReply {
  const { http, code, message } = WIRE_CODES[family][kind] as WireSpec;
  const body: BintuErrorBody = { error: { message, code, userinfo } };
  return reply.code(http).send(body);
}

/**
 * fastify's own errors (body parsing and limits, a throw) on a route of the bintu or Guardian
 * family, in bintu's envelope: a bintu client never meets the edge's `{ code, reason }`.
 */
export function sendBintuFastifyError(reply: FastifyReply, family: "bintu" | "guardian", error: FastifyError): FastifyReply {
  switch (error.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return sendBintuEnvelope(reply, family, "wrong_data_type", { reason: "body is not valid JSON" });
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return sendBintuEnvelope(reply, family, "body_too_large", { reason: "request body exceeds api.bodyLimit" });
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return sendBintuEnvelope(reply, family, "unsupported_media_type", { reason: "unsupported Content-Type; send application/json" });
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return sendBintuEnvelope(reply, family, "wrong_data_type", { reason: error.message });
  }
  return sendBintuEnvelope(reply, family, "internal");
}

export const bintuError = (reply: FastifyReply, kind: WireKind<"bintu">, userinfo?: Record<string, unknown>) =>
  sendBintuEnvelope(reply, "bintu", kind, userinfo);

export const guardianError = (reply: FastifyReply, kind: WireKind<"guardian">, userinfo?: Record<string, unknown>) =>
  sendBintuEnvelope(reply, "guardian", kind, userinfo);

/** The token service's envelope `{"success":false,"errorCode","message"}`; `detail` follows a colon. */
export function splayError(reply: FastifyReply, kind: WireKind<"splay">, detail?: string): FastifyReply {
  const { http, code, message } = WIRE_CODES.splay[kind];
  return reply.code(http).send({ success: false, errorCode: code, message: detail ? `${message}: ${detail}` : message });
}

/** The edge's own envelope `{ code, reason }` (docs/architecture.md §2). */
export function edgeError(reply: FastifyReply, code: ErrorCode, detail?: string): FastifyReply {
  return reply.code(ERRORS[code].http).send(errorBody(code, detail));
}

export type AdminRefusal = "unauthenticated" | "forbidden";

/**
 * What a refused admin call gets, per route family: the one place that says it. nanoStream's token
 * service documents one answer (1001) for a missing key, a wrong one and a role too low.
 */
export function sendAdminRefusal(reply: FastifyReply, family: RouteFamily, why: AdminRefusal): FastifyReply {
  const unauthenticated = why === "unauthenticated";
  switch (family) {
    case "bintu":
      return bintuError(reply, unauthenticated ? "bad_credentials" : "access_denied");
    case "guardian":
      return guardianError(reply, unauthenticated ? "bad_credentials" : "access_denied");
    case "splay":
      return splayError(reply, "api_key_invalid");
    case "edge":
      return edgeError(reply, unauthenticated ? "EDGE_ERR_UNAUTHORIZED" : "EDGE_ERR_FORBIDDEN");
  }
}
