// `GET /v1/route` — which edge should this client use (issue 7 §5) — and `GET /v1/load`, the
// load report every edge gives routers (issue 7 §3). Both are public, like /readyz: a player asks
// before it has anything else, and a load report says no more than the metrics do.
import type { BlockList } from "node:net";
import type { FastifyInstance, FastifyReply } from "fastify";
import { httpClientIp } from "../access/client-ip.js";
import { APP_NAME, parseQuery, STREAM_NAME } from "../access/stream-key.js";
import type { StreamDirectory } from "../bintu/directory.js";
import { ERRORS, errorBody, type ErrorCode } from "../errors.js";
import type { LoadReport } from "../metrics/load.js";
import type { Router, Way } from "../routing/router.js";

export interface RouteDeps {
  router: Router;
  directory: Pick<StreamDirectory, "lookup">;
  trustedProxies: BlockList;
  apps: readonly string[];
  load: () => LoadReport;
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

function parseRouteQuery(url: string, apps: readonly string[]): Parsed | { code: ErrorCode; detail: string } {
  const q = url.indexOf("?");
  const parsed = parseQuery(q < 0 ? "" : url.slice(q + 1));
  if (!parsed.ok) return { code: parsed.error, detail: "repeated or oversized query parameters" };
  const { stream, protocol, action = "play", app = "live", redirect } = parsed.value;
  if (stream === undefined) return { code: "EDGE_ERR_BAD_REQUEST", detail: "stream is required" };
  if (!STREAM_NAME.test(stream)) return { code: "EDGE_ERR_BAD_NAME", detail: "stream" };
  if (!APP_NAME.test(app) || !apps.includes(app)) return { code: "EDGE_ERR_BAD_APP", detail: app };
  if (action !== "play" && action !== "publish") return { code: "EDGE_ERR_BAD_REQUEST", detail: "action must be play or publish" };
  const proto = protocol ?? (action === "play" ? "flv" : "rtmp");
  if (proto !== "flv" && proto !== "rtmp") return { code: "EDGE_ERR_BAD_REQUEST", detail: "protocol must be flv or rtmp" };
  if (action === "publish" && proto !== "rtmp") return { code: "EDGE_ERR_BAD_REQUEST", detail: "publishing is RTMP only" };
  if (redirect !== undefined && redirect !== "0" && redirect !== "1") return { code: "EDGE_ERR_BAD_REQUEST", detail: "redirect must be 0 or 1" };
  const passOn = new URLSearchParams();
  for (const [k, v] of Object.entries(parsed.value)) if (!OWN.has(k)) passOn.append(k, v);
  const way: Way = action === "publish" ? "ingest" : proto;
  return { stream, app, way, action, redirect: redirect === "1", query: passOn.toString() };
}

export function registerRouteRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const refuse = (reply: FastifyReply, code: ErrorCode, detail?: string, region = "none") => {
    deps.count(region, "none", ERRORS[code].reason);
    return reply.code(ERRORS[code].http).send(errorBody(code, detail));
  };

  app.get("/v1/load", async () => deps.load());

  app.get("/v1/route", { schema: routeSchema }, async (req, reply) => {
    const parsed = parseRouteQuery(req.url, deps.apps);
    if ("code" in parsed) return refuse(reply, parsed.code, parsed.detail);
    let known: boolean;
    try {
      const info = await deps.directory.lookup(parsed.stream);
      known = info !== null && info.state !== "deleted";
    } catch {
      return refuse(reply, "EDGE_ERR_BINTU_UNAVAILABLE");
    }
    if (!known) return refuse(reply, "EDGE_ERR_STREAM_UNKNOWN");
    const ip = httpClientIp(req.socket.remoteAddress, req.headers["x-forwarded-for"], deps.trustedProxies);
    const answer = deps.router.route({ ...parsed, ip });
    if (answer.reason === "none") return refuse(reply, "EDGE_ERR_NO_EDGE", "no healthy edge with room and no routing.fallback");
    deps.count(answer.region || "none", answer.reason, "ok");
    reply.header("cache-control", "no-store"); // the answer depends on live health and load
    return parsed.redirect ? reply.redirect(answer.url, 302) : answer;
  });
}
