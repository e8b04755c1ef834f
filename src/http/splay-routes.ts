// nanoStream's token service on the control port (docs/nanostream.md §2.2, issue 6): issue, verify and
// revoke playback tokens, with nanoStream's envelope `{"success", "data" | "errorCode", "message"}`,
// and the JWKS other edges verify with. Routes only translate; PlaybackTokens decides.
import type { FastifyError, FastifyInstance, FastifyReply } from "fastify";
import type { PlaybackTokens, RevokeRefusal } from "../auth/playback-tokens.js";
import { EdgeError, type ErrorCode } from "../errors.js";
import { requireRole, type AdminAuth } from "./admin-auth.js";
import { splayError, type WireKind } from "./wire-codes.js";

export interface SplayRoutesOptions {
  tokens: PlaybackTokens;
  auth: AdminAuth;
  /** The organisation this edge issues for (`sub`). */
  org: string;
  /** Unix seconds; injectable for tests. */
  now?: () => number;
  /**
   * A fleet's revocation (issue 12): posted to the change log, resolved once in force here; rejects
   * with EDGE_ERR_CLUSTER_UNAVAILABLE when the fleet cannot take it. Absent = this edge's store.
   */
  fleetRevoke?: (jti: string, exp: number) => Promise<void>;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function sendToken(reply: FastifyReply, token: string): FastifyReply {
  return reply.code(200).send({ success: true, data: { token } });
}

const tokenOf = (body: unknown): string | null =>
  typeof body === "object" && body !== null && typeof (body as { token?: unknown }).token === "string" ? (body as { token: string }).token : null;

/** /verify refusals: nanoStream documents 1002 for expiry; every other failure is 2004. */
const VERIFY_REFUSAL: Partial<Record<ErrorCode, WireKind<"splay">>> = {
  EDGE_ERR_TOKEN_EXPIRED: "jwt_expired",
  EDGE_ERR_TOKEN_REVOKED: "jwt_revoked",
};

/** /revoke refusals: a malformed token is 2004 as on verify, but 400 there (a bad request body). */
const REVOKE_REFUSAL: Record<RevokeRefusal, WireKind<"splay">> = {
  malformed: "revoke_malformed",
  other_org: "other_org",
  not_revocable: "not_revocable",
  expired: "jwt_expired",
};

/** Body-parsing failures keep their 413/415 status; anything else a client sent wrong is 400. */
function bodyRefusal(reply: FastifyReply, err: FastifyError): FastifyReply {
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return splayError(reply, "body_too_large");
  if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return splayError(reply, "unsupported_media_type");
  return splayError(reply, "parameter_required", "a JSON object body");
}

export function registerSplayRoutes(app: FastifyInstance, opts: SplayRoutesOptions): void {
  const { tokens, auth, org } = opts;
  const now = opts.now ?? nowSeconds;

  // nanoStream: creating (and revoking) needs nanoAdmin or nanoUser (docs/nanostream.md §2.1). A
  // preHandler, as the check ran in the handler before: a body fastify cannot parse is refused
  // (400/413/415, 1000) before the key is looked at.
  const manageTokens = { preHandler: requireRole(auth, "nanoUser", "splay") };

  // A child scope (encapsulated plugin): its error handler answers in nanoStream's envelope, so
  // fastify's own error shape never reaches a token-service client, and the parent's is untouched.
  void app.register(async (scope) => {
    scope.setErrorHandler((err: FastifyError, _req, reply) => {
      if (err.statusCode === undefined || err.statusCode < 400 || err.statusCode >= 500) return splayError(reply, "internal");
      return bodyRefusal(reply, err);
    });

    scope.post("/api/v1/splay", manageTokens, async (req, reply) => {
      const issued = tokens.issue(req.body, { org, nowSec: now() });
      if (!issued.ok) return splayError(reply, "parameter_required", issued.parameter);
      // A bearer credential: no cache may keep it (as RFC 6749 §5.1 asks of token responses).
      reply.header("Cache-Control", "no-store");
      return sendToken(reply, issued.token);
    });

    scope.post("/api/v1/splay/verify", async (req, reply) => {
      const token = tokenOf(req.body);
      if (token === null) return splayError(reply, "parameter_required", "token");
      const result = tokens.verify(token, now());
      if (result.ok) return sendToken(reply, token);
      return splayError(reply, VERIFY_REFUSAL[result.code] ?? "jwt_invalid");
    });

    scope.post("/api/v1/splay/revoke", manageTokens, async (req, reply) => {
      const token = tokenOf(req.body);
      if (token === null) return splayError(reply, "parameter_required", "token");
      if (opts.fleetRevoke) {
        const checked = tokens.revocable(token, { org, nowSec: now() });
        if (!checked.ok) return splayError(reply, REVOKE_REFUSAL[checked.refusal]);
        try {
          await opts.fleetRevoke(checked.jti, checked.exp);
        } catch (err) {
          if (err instanceof EdgeError && err.code === "EDGE_ERR_CLUSTER_UNAVAILABLE") return splayError(reply, "cluster_unavailable");
          throw err;
        }
        return reply.code(204).send();
      }
      const result = tokens.revoke(token, { org, nowSec: now() });
      if (result.ok) return reply.code(204).send();
      return splayError(reply, REVOKE_REFUSAL[result.refusal]);
    });

    // RFC 7517 §8.5 media type. Public keys only; a short max-age lets a fleet pick up rotations.
    scope.get("/.well-known/jwks.json", async (_req, reply) =>
      reply.header("Content-Type", "application/jwk-set+json").header("Cache-Control", "public, max-age=300").send(tokens.jwks()),
    );
  });
}
