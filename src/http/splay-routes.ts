// nanoStream's token service on the control port (docs/nanostream.md §2.2, issue 6): issue, verify and
// revoke playback tokens, with nanoStream's envelope `{"success", "data" | "errorCode", "message"}`,
// and the JWKS other edges verify with. Routes only translate; PlaybackTokens decides.
import type { FastifyError, FastifyInstance, FastifyReply } from "fastify";
import type { PlaybackTokens, RevokeResult } from "../auth/playback-tokens.js";
import type { ErrorCode } from "../errors.js";
import { hasRole, type AdminAuth } from "./admin-auth.js";

export interface SplayRoutesOptions {
  tokens: PlaybackTokens;
  auth: AdminAuth;
  /** The organisation this edge issues for (`sub`). */
  org: string;
  /** Unix seconds; injectable for tests. */
  now?: () => number;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function fail(reply: FastifyReply, status: number, errorCode: number, message: string): FastifyReply {
  return reply.code(status).send({ success: false, errorCode, message });
}

function sendToken(reply: FastifyReply, token: string): FastifyReply {
  return reply.code(200).send({ success: true, data: { token } });
}

const tokenOf = (body: unknown): string | null =>
  typeof body === "object" && body !== null && typeof (body as { token?: unknown }).token === "string"
    ? (body as { token: string }).token
    : null;

/** /verify refusals: nanoStream documents 1002 for expiry; every other failure is 2004. */
const VERIFY_REFUSAL: Partial<Record<ErrorCode, { errorCode: number; message: string }>> = {
  EDGE_ERR_TOKEN_EXPIRED: { errorCode: 1002, message: "jwt expired" },
  EDGE_ERR_TOKEN_REVOKED: { errorCode: 2004, message: "jwt revoked" },
};
const MALFORMED = { errorCode: 2004, message: "Malformed JWT" };

/** nanoStream answers 2011 with 400 (docs/nanostream.md §2.2); another org's token and a stale one are 403. */
const REVOKE_STATUS: Record<Exclude<RevokeResult, { ok: true }>["errorCode"], number> = { 1002: 403, 2004: 400, 2011: 400, 2012: 403 };

/** Body-parsing failures keep their 413/415 status; anything else a client sent wrong is 400. */
function clientErrorMessage(err: FastifyError): { status: number; message: string } {
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return { status: 413, message: "Parameter required: a smaller body" };
  if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return { status: 415, message: "Parameter required: Content-Type application/json" };
  return { status: 400, message: "Parameter required: a JSON object body" };
}

export function registerSplayRoutes(app: FastifyInstance, opts: SplayRoutesOptions): void {
  const { tokens, auth, org } = opts;
  const now = opts.now ?? nowSeconds;

  /** nanoStream: creating (and revoking) needs nanoAdmin or nanoUser (docs/nanostream.md §2.1). */
  const mayManageTokens = (headers: Parameters<AdminAuth["authenticate"]>[0]) => {
    const role = auth.authenticate(headers);
    return role !== null && hasRole(role, "nanoUser");
  };

  // A child scope (encapsulated plugin): its error handler answers in nanoStream's envelope, so
  // fastify's own error shape never reaches a token-service client, and the parent's is untouched.
  void app.register(async (scope) => {
    scope.setErrorHandler((err: FastifyError, _req, reply) => {
      if (err.statusCode === undefined || err.statusCode < 400 || err.statusCode >= 500) {
        // Not a nanoStream code (it documents none for this): the HTTP status, in the same envelope.
        return fail(reply, 500, 500, "Internal error");
      }
      const { status, message } = clientErrorMessage(err);
      return fail(reply, status, 1000, message);
    });

    scope.post("/api/v1/splay", async (req, reply) => {
      if (!mayManageTokens(req.headers)) return fail(reply, 403, 1001, "Provided APIKey is not valid");
      const issued = tokens.issue(req.body, { org, nowSec: now() });
      if (!issued.ok) return fail(reply, 400, issued.errorCode, issued.message);
      // A bearer credential: no cache may keep it (as RFC 6749 §5.1 asks of token responses).
      reply.header("Cache-Control", "no-store");
      return sendToken(reply, issued.token);
    });

    scope.post("/api/v1/splay/verify", async (req, reply) => {
      const token = tokenOf(req.body);
      if (token === null) return fail(reply, 400, 1000, "Parameter required: token");
      const result = tokens.verify(token, now());
      if (result.ok) return sendToken(reply, token);
      const refusal = VERIFY_REFUSAL[result.code] ?? MALFORMED;
      return fail(reply, 403, refusal.errorCode, refusal.message);
    });

    scope.post("/api/v1/splay/revoke", async (req, reply) => {
      if (!mayManageTokens(req.headers)) return fail(reply, 403, 1001, "Provided APIKey is not valid");
      const token = tokenOf(req.body);
      if (token === null) return fail(reply, 400, 1000, "Parameter required: token");
      const result = tokens.revoke(token, { org, nowSec: now() });
      if (result.ok) return reply.code(204).send();
      return fail(reply, REVOKE_STATUS[result.errorCode], result.errorCode, result.message);
    });

    // RFC 7517 §8.5 media type. Public keys only; a short max-age lets a fleet pick up rotations.
    scope.get("/.well-known/jwks.json", async (_req, reply) =>
      reply.header("Content-Type", "application/jwk-set+json").header("Cache-Control", "public, max-age=300").send(tokens.jwks()),
    );
  });
}
