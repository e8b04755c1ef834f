// /v1/hooks/*: the auth hooks of nginx-rtmp, SRS, MediaMTX and OvenMediaEngine answered from the
// same decision as our own RTMP and HTTP-FLV (issue 14, docs/hooks.md). The translators in
// src/hooks turn payloads into AccessRequests and verdicts into each server's exact answer; this
// file checks who calls, decides, keeps the foreign sessions and writes the answer.
import * as crypto from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AccessControl, AccessRequest } from "../access/access.js";
import { ERRORS, type ErrorCode } from "../errors.js";
import { answerMediamtx, mediamtxWithoutCredentials, parseMediamtx } from "../hooks/mediamtx.js";
import { answerNginxRtmp, parseNginxRtmp, splitNginxQuery } from "../hooks/nginx-rtmp.js";
import { answerOme, omeSignatureValid, parseOme } from "../hooks/ome.js";
import { answerSrs, parseSrs } from "../hooks/srs.js";
import type { TokenHandles } from "../hooks/token-handles.js";
import { formPairs, verdictOf, type HookAnswer, type HookCall, type HookServer, type Verdict } from "../hooks/types.js";
import type { Metrics } from "../metrics/metrics.js";
import { normalizeIp, type TrustedProxies } from "../primitives/client-ip.js";
import type { ForeignSessions } from "./hook-sessions.js";
import { edgeError } from "./wire-codes.js";

export interface HookRouteDeps {
  access: Pick<AccessControl, "check">;
  sessions: ForeignSessions;
  handles: TokenHandles;
  /** hooks.allowFrom */
  allowFrom: TrustedProxies;
  /** hooks.secret; "" = none. */
  secret: string;
  /** api.trustProxy: OvenMediaEngine's `client.real_ip` is believed only from these. */
  trustedProxies: TrustedProxies;
  metrics: Metrics;
  now?: () => number;
}

type Answer = (call: HookCall, verdict: Verdict, req: FastifyRequest) => HookAnswer;

const FORM = "application/x-www-form-urlencoded";
const JSON_CT = "application/json";

// One call instead of a Hash object: a third cheaper per hook call (issue 14 §9). crypto.hash is
// Node ≥ 20.12; engines admits any 20.
const digest: (s: string) => Buffer =
  typeof crypto.hash === "function" ? (s) => crypto.hash("sha256", s, "buffer") : (s) => crypto.createHash("sha256").update(s).digest();

/** The media type without parameters, lower case. */
const mediaType = (req: FastifyRequest) => (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();

export function registerHookRoutes(app: FastifyInstance, deps: HookRouteDeps): void {
  const now = deps.now ?? Date.now;
  const secretDigest = deps.secret === "" ? null : digest(deps.secret);

  /** `?secret=` of the hook URL (its own query, docs/hooks.md §1.2) or `Authorization: Bearer`, in constant time. */
  const hasSecret = (req: FastifyRequest): boolean => {
    if (!secretDigest) return true;
    const matches = (s: string | undefined) => s !== undefined && crypto.timingSafeEqual(digest(s), secretDigest);
    const auth = req.headers.authorization;
    if (auth?.startsWith("Bearer ") && matches(auth.slice(7))) return true;
    const q = req.url.indexOf("?");
    return q >= 0 && matches(formPairs(splitNginxQuery(req.url.slice(q + 1)).own).find(([k]) => k === "secret")?.[1]);
  };

  /** Decides a call and answers it; nothing here throws to a 5xx (fastify's handler would). */
  const handle = async (server: HookServer, call: HookCall, reply: FastifyReply, answer: (v: Verdict) => HookAnswer): Promise<FastifyReply> => {
    // Fail closed, in the answer the server reads as a refusal: a bug here never becomes an allow
    // nor a 5xx (which some servers would retry or log as their own failure).
    const verdict = await decide(server, call).catch((): Verdict => ({ allow: false, code: "EDGE_ERR_INTERNAL" }));
    const a = answer(verdict);
    reply.code(a.status);
    // nginx-rtmp speaks HTTP/1.0 and reads until the connection closes (docs/hooks.md §1.1): Node's
    // server closes after answering an HTTP/1.0 request without keep-alive, no header needed.
    if (a.contentType) return reply.type(a.contentType).send(a.body);
    return reply.send();
  };

  const decide = async (server: HookServer, call: HookCall): Promise<Verdict> => {
    switch (call.kind) {
      case "pass":
        return { allow: true };
      case "refuse":
        return { allow: false, code: call.code, detail: call.detail };
      case "done":
        deps.sessions.done(call.sessionIds);
        return { allow: true };
      case "update": {
        const ended = deps.sessions.endedWith(call.session.id);
        if (ended) return { allow: false, code: ended };
        const running = deps.sessions.get(call.session.id);
        // A running publisher is re-checked by the live-session policy (bintu, the webhook); a player
        // is decided again, so an expired token, a ban or a lock refuses it (docs/hooks.md §1.4).
        if (running?.role === "publisher") return { allow: true };
        const request = withHandle(call.request);
        const decision = await deps.access.check(request);
        count(request, decision.allow ? null : decision.code);
        if (!running && decision.allow) deps.sessions.start(server, call.session, request, decision);
        if (running && !decision.allow) running.end(decision.code);
        return verdictOf(decision);
      }
      case "decide": {
        const request = withHandle(call.request);
        const decision = await deps.access.check(request);
        count(request, decision.allow ? null : decision.code);
        if (decision.allow && call.session) deps.sessions.start(server, call.session, request, decision);
        return verdictOf(decision);
      }
    }
  };

  /** `jwh` (a token handle, docs/hooks.md §6) stands for its full token when no `jwtoken` came. */
  const withHandle = (req: AccessRequest): AccessRequest => {
    const h = req.query.jwh;
    if (h === undefined || req.query.jwtoken !== undefined) return req;
    const token = deps.handles.resolve(h, now());
    return token === undefined ? req : { ...req, query: { ...req.query, jwtoken: token } };
  };

  // Counter children kept per label set: labelling on every call hashes the label object, a
  // measurable share of a hook's cost (as for /v1/route). Actions and reasons are closed sets.
  const counters = new Map<string, { inc(): void }>();
  const count = (req: AccessRequest, code: ErrorCode | null) => {
    const reason = code ? ERRORS[code].reason : "ok";
    const key = `${req.action}\0${reason}`;
    let child = counters.get(key);
    if (!child) counters.set(key, (child = deps.metrics.decisions.labels(req.action, "hook", code ? "deny" : "allow", reason)));
    child.inc();
  };

  app.register(async (scope) => {
    // Raw text for every hook: OvenMediaEngine's signature is over the exact bytes, and each
    // translator parses its own format so a malformed body is its 400, never fastify's.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser([JSON_CT, FORM], { parseAs: "string" }, (_req, body, done) => done(null, body));

    // Who may call, before the body is read: nothing is decided for anyone else (issue 14 §5).
    // A callback hook, not an async one: no promise per call on the allowed path.
    scope.addHook("onRequest", (req, reply, done) => {
      if (!deps.allowFrom.has(normalizeIp(req.socket.remoteAddress))) return void edgeError(reply, "EDGE_ERR_HOOK_CALLER");
      // OvenMediaEngine proves the secret with its signature, checked over the body.
      if (!req.url.startsWith("/v1/hooks/ome") && !hasSecret(req)) return void edgeError(reply, "EDGE_ERR_HOOK_SECRET");
      done();
    });

    /** The raw body of the one media type this hook sends, or the refusal of anything else. */
    const body = (req: FastifyRequest, type: string): { raw: string } | { refused: HookCall } => {
      if (mediaType(req) !== type) return { refused: { kind: "refuse", code: "EDGE_ERR_UNSUPPORTED_MEDIA_TYPE", detail: `expected ${type}` } };
      return typeof req.body === "string" ? { raw: req.body } : { refused: { kind: "refuse", code: "EDGE_ERR_BAD_REQUEST", detail: "no body" } };
    };

    // nginx-rtmp: POST form body (its default) or GET with the fields appended to the query.
    scope.route({
      method: ["GET", "POST"],
      url: "/v1/hooks/nginx-rtmp",
      handler: async (req, reply) => {
        let call: HookCall;
        if (req.method === "GET") {
          const q = req.url.indexOf("?");
          call = parseNginxRtmp(q < 0 ? "" : splitNginxQuery(req.url.slice(q + 1)).fields);
        } else {
          const b = body(req, FORM);
          call = "raw" in b ? parseNginxRtmp(b.raw) : b.refused;
        }
        return handle("nginx-rtmp", call, reply, answerNginxRtmp);
      },
    });

    const jsonHook = (server: HookServer, parse: (raw: string) => HookCall, answer: Answer) =>
      scope.post(`/v1/hooks/${server}`, async (req, reply) => {
        const b = body(req, JSON_CT);
        const call = "raw" in b ? parse(b.raw) : b.refused;
        return handle(server, call, reply, (v) => answer(call, v, req));
      });

    jsonHook("srs", parseSrs, (_c, v) => answerSrs(v));
    jsonHook("mediamtx", parseMediamtx, (_c, v, req) => answerMediamtx(v, () => typeof req.body === "string" && mediamtxWithoutCredentials(req.body)));

    scope.post("/v1/hooks/ome", async (req, reply) => {
      const b = body(req, JSON_CT);
      let call: HookCall;
      if (!("raw" in b)) call = b.refused;
      else if (deps.secret !== "" && !omeSignatureValid(deps.secret, b.raw, header(req, "x-ome-signature"))) {
        // Checked before parsing (docs/hooks.md §4.3): a forged body is never read.
        call = { kind: "refuse", code: "EDGE_ERR_HOOK_SECRET", detail: "X-OME-Signature does not match" };
      } else call = parseOme(b.raw, (ip) => deps.trustedProxies.has(normalizeIp(ip)));
      return handle("ome", call, reply, (v) => answerOme(call, v, now()));
    });
  });

  // A short handle for a playback token (docs/hooks.md §6): open to anyone holding a valid token,
  // as the token itself is the credential; the handle grants nothing the token does not.
  app.post<{ Body: { token?: unknown } }>("/v1/tokens/handle", async (req, reply) => {
    const token = req.body?.token;
    if (typeof token !== "string" || token === "") return edgeError(reply, "EDGE_ERR_BAD_REQUEST", 'body needs {"token": "…"}');
    const r = deps.handles.issue(token, now());
    return r.ok ? { handle: r.handle, expiresAt: new Date(r.expiresAt).toISOString() } : edgeError(reply, r.code);
  });
}

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return typeof v === "string" ? v : undefined;
};
