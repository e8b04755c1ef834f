// `GET /v1/route` — which edge should this client use (issue 7 §5) — and `GET /v1/load`, the
// load report every edge gives routers (issue 7 §3). Both are public, like /readyz: a player asks
// before it has anything else, and a load report says no more than the metrics do.
import type { FastifyInstance, FastifyReply } from "fastify";
import { httpClientIp, type TrustedProxies } from "../primitives/client-ip.js";
import { APP_NAME, MAX_QUERY_LENGTH, STREAM_NAME } from "../primitives/stream-key.js";
import type { StreamDirectory } from "../bintu/directory.js";
import { ERRORS, errorBody, type ErrorCode } from "../errors.js";
import type { LoadReport } from "../metrics/load.js";
import type { Router, Way } from "../routing/router.js";
import type { AdminAuth } from "./admin-auth.js";

export interface RouteDeps {
  router: Router;
  directory: Pick<StreamDirectory, "lookup">;
  trustedProxies: TrustedProxies;
  apps: readonly string[];
  load: () => LoadReport;
  /** The admin key: only its holder is told that a stream does not exist (issue 18 §5). */
  auth: AdminAuth;
  /** Counts every answer: region of the chosen edge ("none"), reason, result (a reason code or "ok"). */
  count: (region: string, reason: string, result: string) => void;
}

/** Parameters /v1/route reads itself; every other one is handed on to the edge (e.g. `jwtoken`). */
const OWN = new Set(["stream", "protocol", "action", "app", "redirect"]);

const target = {
  type: "object",
  properties: { edge: { type: "string" }, url: { type: "string" }, region: { type: "string" }, distanceKm: { type: ["number", "null"] } },
} as const;

// A response schema lets fastify serialise with a compiled stringifier instead of JSON.stringify.
const routeSchema = {
  response: {
    200: {
      type: "object",
      properties: {
        ...target.properties,
        reason: { type: "string" },
        located: { type: "string" },
        alternatives: { type: "array", items: target },
      },
    },
  },
} as const;

type Parsed = { stream: string; app: string; way: Way; action: "play" | "publish"; redirect: boolean; query: string };

/**
 * Reads fastify's parse of the query (already done for every request; parsing again cost more
 * than the route decision). A repeated parameter is an array there: refused, as everywhere.
 */
function parseRouteQuery(url: string, query: Record<string, unknown>, apps: readonly string[]): Parsed | { code: ErrorCode; detail: string } {
  const q = url.indexOf("?");
  if (q >= 0 && (url.length - q - 1 > MAX_QUERY_LENGTH || url.includes("\0", q))) return { code: "EDGE_ERR_BAD_QUERY", detail: "oversized query" };
  let passOn = "";
  for (const key in query) {
    const value = query[key];
    if (typeof value !== "string") return { code: "EDGE_ERR_BAD_QUERY", detail: `repeated parameter ${key}` };
    if (!OWN.has(key)) passOn += `${passOn ? "&" : ""}${encodeURIComponent(key)}=${encodeURIComponent(value)}`;
  }
  const { stream, protocol, action = "play", app = "live", redirect } = query as Record<string, string | undefined>;
  if (stream === undefined) return { code: "EDGE_ERR_BAD_REQUEST", detail: "stream is required" };
  if (!STREAM_NAME.test(stream)) return { code: "EDGE_ERR_BAD_NAME", detail: "stream" };
  if (!APP_NAME.test(app) || !apps.includes(app)) return { code: "EDGE_ERR_BAD_APP", detail: app };
  if (action !== "play" && action !== "publish") return { code: "EDGE_ERR_BAD_REQUEST", detail: "action must be play or publish" };
  const proto = protocol ?? (action === "play" ? "flv" : "rtmp");
  if (proto !== "flv" && proto !== "rtmp") return { code: "EDGE_ERR_BAD_REQUEST", detail: "protocol must be flv or rtmp" };
  if (action === "publish" && proto !== "rtmp") return { code: "EDGE_ERR_BAD_REQUEST", detail: "publishing is RTMP only" };
  if (redirect !== undefined && redirect !== "0" && redirect !== "1") return { code: "EDGE_ERR_BAD_REQUEST", detail: "redirect must be 0 or 1" };
  const way: Way = action === "publish" ? "ingest" : proto;
  return { stream, app, way, action, redirect: redirect === "1", query: passOn };
}

export function registerRouteRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const refuse = (reply: FastifyReply, code: ErrorCode, detail?: string) => {
    deps.count("none", "none", ERRORS[code].reason);
    return reply.code(ERRORS[code].http).send(errorBody(code, detail));
  };

  app.get("/v1/load", async () => deps.load());

  app.get("/v1/route", { schema: routeSchema }, async (req, reply) => {
    const parsed = parseRouteQuery(req.url, req.query as Record<string, unknown>, deps.apps);
    if ("code" in parsed) return refuse(reply, parsed.code, parsed.detail);
    // Without the admin key the directory is not asked: an unknown name is routed like a known one
    // (the edge it is sent to refuses the play or publish), so an anonymous caller cannot tell a
    // key that exists from one that does not, nor a known stream with no edge from an unknown one.
    if (deps.auth.authenticate(req.headers) !== null) {
      let known: boolean;
      try {
        const info = await deps.directory.lookup(parsed.stream);
        known = info !== null && info.state !== "deleted";
      } catch {
        return refuse(reply, "EDGE_ERR_BINTU_UNAVAILABLE");
      }
      if (!known) return refuse(reply, "EDGE_ERR_STREAM_UNKNOWN");
    }
    const ip = httpClientIp(req.socket.remoteAddress, req.headers["x-forwarded-for"], deps.trustedProxies);
    const { stream, app, way, action, query } = parsed;
    const answer = deps.router.route({ ip, stream, app, way, action, query });
    if (answer.reason === "none") return refuse(reply, "EDGE_ERR_NO_EDGE", "no healthy edge with room and no routing.fallback");
    deps.count(answer.region || "none", answer.reason, "ok");
    reply.header("cache-control", "no-store"); // the answer depends on live health and load
    return parsed.redirect ? reply.redirect(answer.url, 302) : answer;
  });
}
