// `GET /v1/route` — which edge should this client use (issue 7 §5) — and `GET /v1/load`, the
// load report every edge gives routers (issue 7 §3). Both are public, like /readyz: a player asks
// before it has anything else, and a load report says no more than the metrics do. /v1/route is
// served in the API port's fast lane (src/http/fast-lane.ts, issue 14 §9), /v1/load by fastify.
import type http from "node:http";
import type { FastifyInstance } from "fastify";
import { httpClientIp, type TrustedProxies } from "../primitives/client-ip.js";
import { APP_NAME, MAX_QUERY_LENGTH, STREAM_NAME } from "../primitives/stream-key.js";
import type { StreamDirectory } from "../bintu/directory.js";
import { ERRORS, errorBody, type ErrorCode } from "../errors.js";
import type { LoadReport } from "../metrics/load.js";
import type { RouteAnswer, Router, Way } from "../routing/router.js";
import type { AdminAuth } from "./admin-auth.js";
import { answer, JSON_UTF8, type FastLane } from "./fast-lane.js";

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

type Routed = Extract<RouteAnswer, { edge: string }>;
type Target = Routed["alternatives"][number];

/**
 * A JSON string: as JSON.stringify writes it, which leaves a string without `"`, `\\`, control
 * characters or surrogates as it is — what every id, region and URL here is (the names are
 * validated, the query percent-encoded); one regex test instead of JSON.stringify was half of
 * this function's cost (issue 14 §9).
 */
// eslint-disable-next-line no-control-regex -- the characters JSON escapes are control characters
const JSON_AS_IS = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;
const str = (v: string) => (JSON_AS_IS.test(v) ? `"${v}"` : JSON.stringify(v));
const targetFields = (t: Target) =>
  `"edge":${str(t.edge)},"url":${str(t.url)},"region":${str(t.region)},"distanceKm":${t.distanceKm === null ? "null" : JSON.stringify(t.distanceKm)}`;

/**
 * The answer's JSON: the fields the route's response schema named when fastify served it, in its
 * order (a fastify schema serializer writes nothing else), written field by field as that
 * serializer did — JSON.stringify of the whole object was ~8% of the route's CPU (issue 14 §9).
 */
const routeJson = (a: Routed): string =>
  `{${targetFields(a)},"reason":${str(a.reason)},"located":${str(a.located)},"alternatives":[${a.alternatives.map((t) => `{${targetFields(t)}}`).join(",")}]}`;

const NO_STORE = ["cache-control", "no-store"];

type Parsed = { stream: string; app: string; way: Way; action: "play" | "publish"; redirect: boolean; query: string };

/**
 * Reads the query parsed as fastify parsed it for this route (fast-querystring, through
 * find-my-way): repeated parameter = an array, refused as everywhere.
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

/**
 * The query of a request target as fastify's router handed it to a route: what follows the first
 * `?` or `#` (find-my-way), split on `&` and the first `=`, `+` as a space, each part percent-decoded
 * (kept as it is when it does not decode), a repeated key an array of its values (fast-querystring).
 */
export function routerQuery(url: string): Record<string, string | string[]> {
  const query = Object.create(null) as Record<string, string | string[]>;
  let start = url.indexOf("?");
  const hash = url.indexOf("#");
  if (hash >= 0 && (start < 0 || hash < start)) start = hash;
  if (start < 0) return query;
  const qs = url.slice(start + 1);
  for (let from = 0; from <= qs.length;) {
    let end = qs.indexOf("&", from);
    if (end < 0) end = qs.length;
    if (end > from) {
      const eq = qs.indexOf("=", from);
      const pair = eq < 0 || eq > end;
      const key = queryDecode(qs.slice(from, pair ? end : eq));
      const value = pair ? "" : queryDecode(qs.slice(eq + 1, end));
      if (!pair || key !== "") {
        const held = query[key];
        query[key] = held === undefined ? value : typeof held === "string" ? [held, value] : [...held, value];
      }
    }
    from = end + 1;
  }
  return query;
}

function queryDecode(s: string): string {
  const spaced = s.includes("+") ? s.replace(/\+/g, " ") : s;
  if (!spaced.includes("%")) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

export function registerRouteRoutes(app: FastifyInstance, lane: FastLane, deps: RouteDeps): void {
  const refuse = (res: http.ServerResponse, code: ErrorCode, detail?: string) => {
    deps.count("none", "none", ERRORS[code].reason);
    answer(res, ERRORS[code].http, JSON_UTF8, JSON.stringify(errorBody(code, detail)));
  };

  app.get("/v1/load", async () => deps.load());

  /** Routes a checked request and writes the answer. */
  const routeAndAnswer = (req: http.IncomingMessage, res: http.ServerResponse, parsed: Parsed): void => {
    const ip = httpClientIp(req.socket.remoteAddress, req.headers["x-forwarded-for"], deps.trustedProxies);
    const { stream, app, way, action, query } = parsed;
    const routed = deps.router.route({ ip, stream, app, way, action, query });
    if (routed.reason === "none") return refuse(res, "EDGE_ERR_NO_EDGE", "no healthy edge with room and no routing.fallback");
    deps.count(routed.region || "none", routed.reason, "ok");
    // The answer depends on live health and load: never cached.
    if (!parsed.redirect) return answer(res, 200, JSON_UTF8, routeJson(routed), NO_STORE);
    answer(res, 302, undefined, "", ["cache-control", "no-store", "location", routed.url]);
  };

  lane.add("/v1/route", {
    // Synchronous unless the admin key makes the directory be asked: no promise per anonymous route.
    get: (req, res) => {
      const url = req.url ?? "";
      const parsed = parseRouteQuery(url, routerQuery(url), deps.apps);
      if ("code" in parsed) return refuse(res, parsed.code, parsed.detail);
      // Without the admin key the directory is not asked: an unknown name is routed like a known one
      // (the edge it is sent to refuses the play or publish), so an anonymous caller cannot tell a
      // key that exists from one that does not, nor a known stream with no edge from an unknown one.
      if (deps.auth.authenticate(req.headers) === null) return routeAndAnswer(req, res, parsed);
      return deps.directory.lookup(parsed.stream).then(
        (info) => (info !== null && info.state !== "deleted" ? routeAndAnswer(req, res, parsed) : refuse(res, "EDGE_ERR_STREAM_UNKNOWN")),
        () => refuse(res, "EDGE_ERR_BINTU_UNAVAILABLE"),
      );
    },
  });
}
