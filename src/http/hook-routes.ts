// /v1/hooks/*: the auth hooks of nginx-rtmp, SRS, MediaMTX and OvenMediaEngine answered from the
// same decision as our own RTMP and HTTP-FLV (issue 14, docs/hooks.md). The translators in
// src/hooks turn payloads into AccessRequests and verdicts into each server's exact answer; this
// file checks who calls, decides, keeps the foreign sessions and writes the answer. The four hooks
// are served in the API port's fast lane (src/http/fast-lane.ts, issue 14 §9), before fastify.
import * as crypto from "node:crypto";
import type http from "node:http";
import type { FastifyInstance } from "fastify";
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
import { answer, laneError, readBody, type BodyRefusal, type FastLane, type LaneHandler } from "./fast-lane.js";
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
  /** api.bodyLimit */
  bodyLimit: number;
  metrics: Metrics;
  now?: () => number;
}

type Req = http.IncomingMessage;
type Res = http.ServerResponse;
/** A hook's body as its parser takes it, or the hook's own refusal of it. */
type Body = { raw: string } | { refused: HookCall };
/** Undefined: answered synchronously; a promise while a decision is awaited (the lane catches it). */
type Step = void | Promise<void>;

/** Fail closed, in the answer the server reads as a refusal: a bug never becomes an allow nor a 5xx. */
const FAILED: Verdict = { allow: false, code: "EDGE_ERR_INTERNAL" };

const FORM = "application/x-www-form-urlencoded";
const JSON_CT = "application/json";

// One call instead of a Hash object: a third cheaper per hook call (issue 14 §9). crypto.hash is
// Node ≥ 20.12; engines admits any 20.
const digest: (s: string) => Buffer =
  typeof crypto.hash === "function" ? (s) => crypto.hash("sha256", s, "buffer") : (s) => crypto.createHash("sha256").update(s).digest();

/** The media type without parameters, lower case. */
const mediaType = (req: Req) => (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();

const header = (req: Req, name: string): string | undefined => {
  const v = req.headers[name];
  return typeof v === "string" ? v : undefined;
};

export function registerHookRoutes(lane: FastLane, deps: HookRouteDeps): void {
  const now = deps.now ?? Date.now;
  const secretDigest = deps.secret === "" ? null : digest(deps.secret);

  /** `?secret=` of the hook URL (its own query, docs/hooks.md §1.2) or `Authorization: Bearer`, in constant time. */
  const hasSecret = (req: Req): boolean => {
    if (!secretDigest) return true;
    const matches = (s: string | undefined) => s !== undefined && crypto.timingSafeEqual(digest(s), secretDigest);
    const auth = req.headers.authorization;
    if (auth?.startsWith("Bearer ") && matches(auth.slice(7))) return true;
    const url = req.url ?? "";
    const q = url.indexOf("?");
    return q >= 0 && matches(formPairs(splitNginxQuery(url.slice(q + 1)).own).find(([k]) => k === "secret")?.[1]);
  };

  /**
   * Who may call, before the body is read: nothing is decided for anyone else (issue 14 §5).
   * OvenMediaEngine proves the secret with its signature, checked over the body.
   */
  const admitted = (req: Req, res: Res, secretInUrl: boolean): boolean => {
    const refused = !deps.allowFrom.has(normalizeIp(req.socket.remoteAddress))
      ? "EDGE_ERR_HOOK_CALLER"
      : secretInUrl && !hasSecret(req)
        ? "EDGE_ERR_HOOK_SECRET"
        : null;
    if (refused) laneError(res, refused);
    return refused === null;
  };

  /**
   * Decides a call and writes the server's answer; nothing here throws to a 5xx. A call with nothing
   * to look up (connect, done, a refusal) is answered in this turn; only a decision is awaited.
   */
  const handle = (server: HookServer, call: HookCall, res: Res, answerOf: (v: Verdict) => HookAnswer): Step => {
    // Fail closed, in the answer the server reads as a refusal (some servers would retry a 5xx or
    // log it as their own failure).
    let verdict: Verdict | Promise<Verdict>;
    try {
      verdict = decide(server, call);
    } catch {
      verdict = FAILED;
    }
    if (!(verdict instanceof Promise)) return write(res, answerOf(verdict));
    return verdict.then(
      (v) => write(res, answerOf(v)),
      () => write(res, answerOf(FAILED)),
    );
  };

  // nginx-rtmp speaks HTTP/1.0 and reads until the connection closes (docs/hooks.md §1.1): Node's
  // server closes after answering an HTTP/1.0 request without keep-alive, no header needed.
  const write = (res: Res, a: HookAnswer) => answer(res, a.status, a.contentType, a.body);

  const decide = (server: HookServer, call: HookCall): Verdict | Promise<Verdict> => {
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
        return deps.access.check(request).then((decision) => {
          count(request, decision.allow ? null : decision.code);
          if (!running && decision.allow) deps.sessions.start(server, call.session, request, decision);
          if (running && !decision.allow) running.end(decision.code);
          return verdictOf(decision);
        });
      }
      case "decide": {
        const request = withHandle(call.request);
        const session = call.session;
        return deps.access.check(request).then((decision) => {
          count(request, decision.allow ? null : decision.code);
          if (decision.allow && session) deps.sessions.start(server, session, request, decision);
          return verdictOf(decision);
        });
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

  /**
   * The raw text of the one media type this hook reads, or what it refuses, as fastify's string
   * parsers answered before the move: a body of a type no hook reads (or of no type) is a 415 and an
   * unreadable one (over api.bodyLimit, cut short) a 413 / 400 in the edge's envelope, before the
   * hook runs; a body of the other hooks' type, or none with no type, is the hook's own refusal, in
   * its server's answer. `then` runs once the body is read (not at all when answered here).
   */
  const body = (req: Req, res: Res, type: string, then: (b: Body) => Step): Step => {
    if (req.headers["content-type"] === undefined) {
      const length = req.headers["content-length"];
      const empty = req.headers["transfer-encoding"] === undefined && (length === undefined || length === "0");
      if (!empty) return unsupported(res);
      return then({ refused: wrongType(type) });
    }
    const given = mediaType(req);
    if (given !== FORM && given !== JSON_CT) return unsupported(res);
    readBody(req, res, deps.bodyLimit, (raw: string | BodyRefusal) => {
      if (typeof raw !== "string") {
        // The client may still be sending: the connection ends with this answer.
        res.setHeader("connection", "close");
        return laneError(res, raw.code, raw.detail);
      }
      return then(given === type ? { raw } : { refused: wrongType(type) });
    });
  };

  // nginx-rtmp: POST form body (its default) or GET with the fields appended to the query. A HEAD
  // carries no body (fastify's automatic HEAD route read none): refused as a POST without one.
  const nginxRtmpBody = (b: Body, res: Res): Step => handle("nginx-rtmp", "raw" in b ? parseNginxRtmp(b.raw) : b.refused, res, answerNginxRtmp);
  const nginxRtmp: LaneHandler = (req, res) => {
    if (!admitted(req, res, true)) return;
    if (req.method === "GET") {
      const url = req.url ?? "";
      const q = url.indexOf("?");
      return handle("nginx-rtmp", parseNginxRtmp(q < 0 ? "" : splitNginxQuery(url.slice(q + 1)).fields), res, answerNginxRtmp);
    }
    if (req.method !== "POST") return nginxRtmpBody(noBody(req, FORM), res);
    return body(req, res, FORM, (b) => nginxRtmpBody(b, res));
  };
  lane.add("/v1/hooks/nginx-rtmp", { get: nginxRtmp, post: nginxRtmp });

  const jsonHook = (server: HookServer, parse: (raw: string) => HookCall, answerOf: (call: HookCall, v: Verdict, raw: string | undefined) => HookAnswer) =>
    lane.add(`/v1/hooks/${server}`, {
      post: (req, res) => {
        if (!admitted(req, res, true)) return;
        return body(req, res, JSON_CT, (b) => {
          const call = "raw" in b ? parse(b.raw) : b.refused;
          return handle(server, call, res, (v) => answerOf(call, v, "raw" in b ? b.raw : undefined));
        });
      },
    });

  jsonHook("srs", parseSrs, (_c, v) => answerSrs(v));
  jsonHook("mediamtx", parseMediamtx, (_c, v, raw) => answerMediamtx(v, () => raw !== undefined && mediamtxWithoutCredentials(raw)));

  lane.add("/v1/hooks/ome", {
    post: (req, res) => {
      if (!admitted(req, res, false)) return;
      return body(req, res, JSON_CT, (b) => {
        let call: HookCall;
        if (!("raw" in b)) call = b.refused;
        else if (deps.secret !== "" && !omeSignatureValid(deps.secret, b.raw, header(req, "x-ome-signature"))) {
          // Checked before parsing (docs/hooks.md §4.3): a forged body is never read.
          call = { kind: "refuse", code: "EDGE_ERR_HOOK_SECRET", detail: "X-OME-Signature does not match" };
        } else call = parseOme(b.raw, (ip) => deps.trustedProxies.has(normalizeIp(ip)));
        return handle("ome", call, res, (v) => answerOme(call, v, now()));
      });
    },
  });
}

/** fastify's 415 for a body no hook's parser reads, in the edge's envelope. */
function unsupported(res: Res): void {
  laneError(res, "EDGE_ERR_UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type");
}

const wrongType = (type: string): HookCall => ({ kind: "refuse", code: "EDGE_ERR_UNSUPPORTED_MEDIA_TYPE", detail: `expected ${type}` });

/** A request without a body to read (a HEAD): the refusal a POST without one got. */
function noBody(req: Req, type: string): { refused: HookCall } {
  return { refused: mediaType(req) === type ? { kind: "refuse", code: "EDGE_ERR_BAD_REQUEST", detail: "no body" } : wrongType(type) };
}

/**
 * A short handle for a playback token (docs/hooks.md §6): open to anyone holding a valid token,
 * as the token itself is the credential; the handle grants nothing the token does not. Not a hot
 * route: it stays in fastify.
 */
export function registerTokenHandleRoute(app: FastifyInstance, deps: Pick<HookRouteDeps, "handles" | "now">): void {
  const now = deps.now ?? Date.now;
  app.post<{ Body: { token?: unknown } }>("/v1/tokens/handle", async (req, reply) => {
    const token = req.body?.token;
    if (typeof token !== "string" || token === "") return edgeError(reply, "EDGE_ERR_BAD_REQUEST", 'body needs {"token": "…"}');
    const r = deps.handles.issue(token, now());
    return r.ok ? { handle: r.handle, expiresAt: new Date(r.expiresAt).toISOString() } : edgeError(reply, r.code);
  });
}
