import type { FastifyReply } from "fastify";

export interface BintuErrorBody {
  error: { message: string; code: number; userinfo: Record<string, unknown> };
}

export interface BintuErrorKind {
  http: number;
  code: number;
  message: string;
}

/** The codes this server sends. Codes and messages are bintu's own (docs/nanostream.md §1.4). */
export const BINTU_ERRORS = {
  parameterRequired: { http: 400, code: 1002, message: "Parameter required" },
  wrongDataType: { http: 400, code: 1004, message: "Wrong Data Type" },
  badCredentials: { http: 401, code: 4002, message: "User Credentials are not valid" },
  accessDenied: { http: 403, code: 2001, message: "Access denied" },
  // bintu documents no answer for an unknown stream id; 404 with 3004 is our choice.
  streamNotFound: { http: 404, code: 3004, message: "Stream not found" },
} as const satisfies Record<string, BintuErrorKind>;

/** Sends bintu's error envelope `{"error":{"message","code","userinfo"}}`. */
export function bintuError(
  reply: FastifyReply,
  http: number,
  code: number,
  message: string,
  userinfo: Record<string, unknown> = {},
): FastifyReply {
  const body: BintuErrorBody = { error: { message, code, userinfo } };
  return reply.code(http).send(body);
}

export function sendBintuError(
  reply: FastifyReply,
  kind: BintuErrorKind,
  userinfo?: Record<string, unknown>,
): FastifyReply {
  return bintuError(reply, kind.http, kind.code, kind.message, userinfo);
}
