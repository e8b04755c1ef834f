// The control API (docs/architecture.md §2): health, metrics, sessions, and the bintu-compatible routes.
// Routes only translate between HTTP and the modules that decide.
import type http from "node:http";
import https from "node:https";
import type tls from "node:tls";
import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
import type { AccessControl } from "../access/access.js";
import { httpClientIp, trustedProxies, type TrustedProxies } from "../primitives/client-ip.js";
import { parsePlayPath } from "../primitives/stream-key.js";
import type { StreamRegistry } from "../bintu/registry/registry.js";
import type { BintuUrls } from "../bintu/registry/stream-json.js";
import type { Config } from "../config/schema.js";
import { ERRORS, type ErrorCode } from "../errors.js";
import type { EdgeSession } from "../access/session-table.js";
import type { Metrics } from "../metrics/metrics.js";
import { requireRole, type IdentifyingAuth, type Role } from "./admin-auth.js";
import { registerDashboardRoutes } from "./dashboard-routes.js";
import { registerLiveEvents } from "./live-events.js";
import type { PeopleKeys } from "./people-keys.js";
import { StreamSamples } from "./stream-samples.js";
import { registerBintuRoutes } from "./bintu-routes.js";
import { registerSplayRoutes } from "./splay-routes.js";
import { registerGuardianRoutes } from "./guardian-routes.js";
import type { Guardian } from "../guardian/guardian.js";
import type { RuleStore } from "../guardian/rule-store.js";
import type { PlaybackTokens } from "../auth/playback-tokens.js";
import type { StreamDirectory } from "../bintu/directory.js";
import type { LoadReport } from "../metrics/load.js";
import type { Router } from "../routing/router.js";
import { registerRouteRoutes } from "./route-routes.js";
import { registerHookRoutes, registerTokenHandleRoute } from "./hook-routes.js";
import { answer, FastLane, laneError } from "./fast-lane.js";
import type { ForeignSessions } from "./hook-sessions.js";
import { locateInApps, registerFleetRoutes, type FleetApi } from "./fleet-routes.js";
import type { TokenHandles } from "../hooks/token-handles.js";
import { edgeError as send, sendBintuEnvelope } from "./wire-codes.js";
import { createHttpServer } from "../front/http-server.js";
import { formPairs } from "../hooks/types.js";
import type { Logger } from "../log.js";

export interface ApiDeps {
  config: Config;
  access: AccessControl;
  trustedProxies: TrustedProxies;
  auth: IdentifyingAuth;
  /** People's API keys (issue 16 §8), which `auth` also accepts. */
  people: PeopleKeys;
  metrics: Metrics;
  registry: StreamRegistry | null;
  tokens: PlaybackTokens;
  org: string;
  guardian: Guardian;
  guardianStore: RuleStore;
  /** Read per request: the ports are known only once the edge listens. */
  bintuUrls: BintuUrls;
  route: { router: Router; directory: Pick<StreamDirectory, "lookup">; load: () => LoadReport };
  sessions: () => EdgeSession[];
  /** Foreign media servers' auth hooks (issue 14): their running sessions and the token handles. */
  hooks: { sessions: ForeignSessions; handles: TokenHandles };
  kick: (id: string) => boolean;
  /** The fleet's ownership and registry (issue 12); absent on a single edge. */
  fleet?: FleetApi & { holds(app: string, name: string, session: string): boolean };
  ready: () => boolean;
  /** A fleet edge (issue 12): revocations through the change log, and what GET /v1/cluster shows. */
  cluster?: { revoke: (jti: string, exp: number) => Promise<void>; view: () => Promise<unknown> };
  /** HTTPS with this certificate (issue 15); absent = plain HTTP. */
  tls?: { options: tls.SecureContextOptions; handshakeTimeoutMs: number };
  log: Logger;
}

/** What the urlencoded serializer writes as it is: a pair of only these is `k=v` once serialized. */
const URL_SAFE = /^[A-Za-z0-9*._-]*$/;

/**
 * `/v1/authorize/play?stream=NAME&app=APP&rest…` as the play path `/APP/NAME?rest…`: exactly what
 * URLSearchParams get / getAll / delete / toString made of it (property-tested against that), at
 * half the cost; `rest` is re-serialized by URLSearchParams only when a pair needs escaping.
 */
export function authorizeQueryAsPath(url: string): string | null {
  const q = url.indexOf("?");
  let stream: string | undefined;
  let app: string | undefined;
  let streams = 0;
  let apps = 0;
  let safe = true;
  const rest: [string, string][] = [];
  for (const pair of formPairs(q < 0 ? "" : url.slice(q + 1))) {
    const [k, v] = pair;
    if (k === "stream") {
      if (streams++ === 0) stream = v;
    } else if (k === "app") {
      if (apps++ === 0) app = v;
    } else {
      rest.push(pair);
      if (safe && !(URL_SAFE.test(k) && URL_SAFE.test(v))) safe = false;
    }
  }
  if (stream === undefined || streams > 1 || apps > 1) return null;
  const restText = safe ? rest.map(([k, v]) => `${k}=${v}`).join("&") : new URLSearchParams(rest).toString();
  return `/${encodeURIComponent(app ?? "live")}/${encodeURIComponent(stream)}${restText ? "?" + restText : ""}`;
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "EDGE_ERR_BODY_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "EDGE_ERR_UNSUPPORTED_MEDIA_TYPE",
};

/**
 * Counts /v1/route answers through prom-client children kept per label set: labelling on every
 * call hashes the label object each time, a measurable share of the route's cost. Regions are
 * configured, reasons and results closed sets, so the map stays small.
 */
function routeAnswerCounter(metrics: Metrics): (region: string, reason: string, result: string) => void {
  const children = new Map<string, { inc(): void }>();
  return (region, reason, result) => {
    const key = `${region}\0${reason}\0${result}`;
    let child = children.get(key);
    if (!child) children.set(key, (child = metrics.routeAnswers.labels(region, reason, result)));
    child.inc();
  };
}

/**
 * The API's server (src/front/http-server.ts: caps at accept, deadlines, Node's refusals in the
 * envelope), built here rather than by fastify so the port is bounded like the playback port;
 * `api.server.setSecureContext` swaps the certificate.
 */
function serverFactory(deps: ApiDeps, lane: FastLane) {
  const { maxConnections, maxConnectionsPerIp, headersTimeoutMs, requestTimeoutMs, idleTimeoutMs } = deps.config.api;
  const limits = { maxConnections, maxConnectionsPerIp, headersTimeoutMs, requestTimeoutMs, idleTimeoutMs };
  // An https.Server is an http.Server to fastify: same requests, same events. The fast lane's
  // routes are answered before fastify's handler (src/http/fast-lane.ts).
  return (handler: http.RequestListener): http.Server =>
    createHttpServer(lane.listener(handler), { protocol: "api", limits, metrics: deps.metrics, log: deps.log, tls: deps.tls });
}

/** Which envelope an answer fastify gives before any route runs takes: bintu's under /stream and /guardian. */
function familyOf(url: string): "bintu" | "guardian" | "edge" {
  if (/^\/stream(?:[/?]|$)/.test(url)) return "bintu";
  if (/^\/guardian(?:[/?]|$)/.test(url)) return "guardian";
  return "edge";
}

/** A new certificate for the API's new connections (no-op on plain HTTP). */
export function setApiSecureContext(api: FastifyInstance, options: tls.SecureContextOptions): void {
  const server: unknown = api.server;
  if (server instanceof https.Server) server.setSecureContext(options);
}

/** `GET /v1/sessions`, and the sessions of the dashboard's live updates. */
function sessionsJson(deps: Pick<ApiDeps, "sessions" | "fleet">) {
  return deps.sessions().map((s) => ({
    id: s.id,
    role: s.role,
    protocol: s.foreign?.protocol ?? s.protocol,
    // Where the media runs: this edge, or the foreign server whose hook asked (issue 14).
    server: s.foreign?.server ?? "edge",
    // A relay names the edge that pulls the stream from this one (issue 13).
    ...(s.role === "relay" ? { edge: s.peer ?? null } : {}),
    app: s.app,
    stream: s.name,
    ip: s.ip,
    startedAt: new Date(s.startedAt).toISOString(),
    bytesIn: s.bytesIn(),
    bytesOut: s.bytesOut(),
    // In a fleet, a publisher of this edge names the key's owner: this edge once the fleet
    // confirmed the claim, null while it has not (allowed while Redis was down, issue 12 §7).
    ...(deps.fleet && s.role === "publisher" && !s.foreign ? { owner: deps.fleet.holds(s.app, s.name, s.id) ? deps.fleet.edgeId : null } : {}),
  }));
}

export function createApiServer(deps: ApiDeps): FastifyInstance {
  const { config } = deps;
  // Filled below, before the server listens; fastify builds the server in its constructor.
  const lane = new FastLane();
  const app = Fastify({
    logger: false,
    bodyLimit: config.api.bodyLimit,
    // The client address is computed in one place for both HTTP ports (src/primitives/client-ip.ts).
    trustProxy: false,
    serverFactory: serverFactory(deps, lane),
    // A malformed percent-encoding (400) or an over-long path parameter (414), found by the router
    // before any route: fastify's own body `{"error":"Bad Request",…}` otherwise.
    frameworkErrors: (err, req, reply) => {
      const tooLong = err.code === "FST_ERR_MAX_PARAM_LENGTH";
      const family = familyOf(req.url);
      if (family !== "edge") void sendBintuEnvelope(reply, family, "wrong_data_type", { reason: tooLong ? "path too long" : "malformed path" });
      else void send(reply, tooLong ? "EDGE_ERR_URI_TOO_LONG" : "EDGE_ERR_BAD_REQUEST", tooLong ? undefined : "malformed path");
    },
  });

  // fastify answers 503 to requests that arrive while it closes: the lane's included.
  app.addHook("preClose", async () => lane.close());

  app.setNotFoundHandler((req, reply) => {
    const family = familyOf(req.url);
    if (family === "bintu") return sendBintuEnvelope(reply, family, "stream_not_found");
    if (family === "guardian") return sendBintuEnvelope(reply, family, "rule_not_found");
    return send(reply, "EDGE_ERR_NOT_FOUND");
  });
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const code = FASTIFY_CODES[err.code] ?? (err.statusCode && err.statusCode < 500 ? "EDGE_ERR_BAD_REQUEST" : "EDGE_ERR_INTERNAL");
    return send(reply, code, code === "EDGE_ERR_INTERNAL" ? undefined : err.message);
  });

  // The edge's own admin routes answer a refused key in the edge envelope `{ code, reason }`.
  const requireEdgeRole = (min: Role) => requireRole(deps.auth, min, "edge");

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => (deps.ready() ? { status: "ready" } : reply.code(503).send({ status: "starting" })));
  app.get("/metrics", async (_req, reply) => {
    reply.header("Content-Type", deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get("/v1/sessions", { preHandler: requireEdgeRole("nanoReadOnly") }, async () => sessionsJson(deps));
  app.delete<{ Params: { id: string } }>("/v1/sessions/:id", { preHandler: requireEdgeRole("nanoAdmin") }, async (req, reply) =>
    deps.kick(req.params.id) ? reply.code(204).send() : send(reply, "EDGE_ERR_NOT_FOUND", "no such session"),
  );

  // For an external media server or CDN, nginx `auth_request` style: the play to decide is
  // `X-Original-URI` (`/live/NAME.flv?jwtoken=…`) or this request's own `?stream=NAME[&app=…]&jwtoken=…`.
  // 204 allows; a refusal is the same status and body an HTTP-FLV player of this edge would get.
  // In the fast lane (issue 14 §9).
  lane.add("/v1/authorize/play", {
    // Not an async function: the decision's promise is the only one (issue 14 §9).
    get: (req, res) => {
      const original = req.headers["x-original-uri"];
      const raw = typeof original === "string" ? original : authorizeQueryAsPath(req.url ?? "");
      const target = raw === null ? null : parsePlayPath(raw, false);
      if (!target) return laneError(res, "EDGE_ERR_BAD_REQUEST", "name the play in X-Original-URI or ?stream=");
      if (!target.ok) return laneError(res, target.error);
      const { referer, origin } = req.headers;
      const ip = httpClientIp(req.socket.remoteAddress, req.headers["x-forwarded-for"], deps.trustedProxies);
      return deps.access.check({ action: "play", protocol: "http", media: "elsewhere", ...target.value, ip, referer, origin }).then((decision) => {
        const code = decision.allow ? null : decision.code;
        countPlay(code);
        return code ? laneError(res, code) : answer(res, 204, undefined, "");
      });
    },
  });
  // Counter children per label set, as for the hooks: labelling each call hashes the label object.
  const playCounters = new Map<string, { inc(): void }>();
  const countPlay = (code: ErrorCode | null) => {
    const reason = code ? ERRORS[code].reason : "ok";
    let child = playCounters.get(reason);
    if (!child) playCounters.set(reason, (child = deps.metrics.decisions.labels("play", "http", code ? "deny" : "allow", reason)));
    child.inc();
  };

  registerRouteRoutes(app, lane, {
    ...deps.route,
    trustedProxies: deps.trustedProxies,
    auth: deps.auth,
    apps: config.ingest.apps,
    count: routeAnswerCounter(deps.metrics),
  });
  registerHookRoutes(lane, {
    ...deps.hooks,
    access: deps.access,
    allowFrom: trustedProxies(config.hooks.allowFrom),
    secret: config.hooks.secret,
    trustedProxies: deps.trustedProxies,
    bodyLimit: config.api.bodyLimit,
    metrics: deps.metrics,
  });
  registerTokenHandleRoute(app, deps.hooks);
  if (deps.fleet) registerFleetRoutes(app, { fleet: deps.fleet, auth: deps.auth, apps: config.ingest.apps });
  registerSplayRoutes(app, { tokens: deps.tokens, auth: deps.auth, org: deps.org, ...(deps.cluster && { fleetRevoke: deps.cluster.revoke }) });
  const cluster = deps.cluster;
  if (cluster) app.get("/v1/cluster", { preHandler: requireEdgeRole("nanoReadOnly") }, async () => cluster.view());
  registerGuardianRoutes(app, { guardian: deps.guardian, store: deps.guardianStore, auth: deps.auth, maxRules: config.guardian.maxRules });
  const fleetApi = deps.fleet;
  if (deps.registry) {
    const locate = fleetApi && ((name: string) => locateInApps(fleetApi, config.ingest.apps, name));
    registerBintuRoutes(app, { registry: deps.registry, auth: deps.auth, urls: deps.bintuUrls, ...(locate && { locate }) });
  }
  registerDashboard(app, deps);
  return app;
}

const MAX_LIVE_SESSIONS = 2000;

/** The web dashboard (issue 16): its files, its own routes and its live updates. */
function registerDashboard(app: FastifyInstance, deps: ApiDeps): void {
  const { registry, route } = deps;
  const samples = new StreamSamples(deps.sessions);
  app.addHook("onReady", async () => samples.start());
  app.addHook("onClose", async () => samples.stop());
  registerDashboardRoutes(app, {
    samples,
    auth: deps.auth,
    people: deps.people,
    config: deps.config,
    embedded: registry !== null,
    fleetEdgeId: deps.fleet?.edgeId ?? null,
    flvPlayBase: () => deps.bintuUrls.flvPlayBase,
    edges: () => ({ table: route.router.edges, health: route.router.edgeSnapshot() }),
    wouldDeny: async () => {
      const metric = await deps.metrics.guardianWouldDeny.get();
      return metric.values.map((v) => ({ action: String(v.labels.action), kind: String(v.labels.kind), count: v.value }));
    },
  });
  const events = registerLiveEvents(app, {
    auth: deps.auth,
    people: deps.people,
    snapshot: () => {
      const sessions = sessionsJson(deps);
      return {
        at: new Date().toISOString(),
        // Bounded: a page lists a few thousand rows at most; the total says when more are running.
        sessions: sessions.slice(0, MAX_LIVE_SESSIONS),
        sessionsTotal: sessions.length,
        // The newest streams' states, so the list follows live / ended without a reload.
        streams: registry?.list({ quantity: 500 }).map((r) => ({ id: r.id, name: r.name, state: r.state })) ?? null,
      };
    },
  });
  // Hijacked streams would hold the server's close open: end them first.
  app.addHook("preClose", async () => events.closeAll());
}
