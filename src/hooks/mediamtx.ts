// MediaMTX `authMethod: http` as one AccessRequest, and the decision as the status it reads
// (docs/hooks.md §3). Pure. MediaMTX sends no end notice, so its sessions are decided, not kept.
import { errorBody } from "../errors.js";
import { parseQuery } from "../primitives/stream-key.js";
import { hookRequest, JSON_TYPE, jsonObject, payloadStatus, refuse, str, type HookAnswer, type HookCall, type Verdict } from "./types.js";

/** A path `APP/NAME` names both; a bare `NAME` is in this app. */
export const MEDIAMTX_DEFAULT_APP = "live";

/** The string fields of a request, checked in this order (the first one that is not names the 400). */
const FIELDS = ["user", "password", "token", "ip", "action", "path", "protocol", "query"] as const;

export function parseMediamtx(raw: string): HookCall {
  const o = jsonObject(raw);
  if (!o) return refuse("EDGE_ERR_BAD_REQUEST", "body is not a JSON object");
  const f: Record<string, string> = {};
  for (const k of FIELDS) {
    const v = str(o, k);
    if (v === null) return refuse("EDGE_ERR_BAD_REQUEST", `\`${k}\` must be a string`);
    f[k] = v;
  }
  const { token, ip, action, path } = f;
  switch (action) {
    case "publish":
    case "read":
    case "playback":
      break;
    case "api":
    case "metrics":
    case "pprof":
      // Not a stream: the user excludes these with authHTTPExclude (README).
      return refuse("EDGE_ERR_HOOK_ACTION", `'${action}': exclude it with authHTTPExclude`);
    default:
      return refuse("EDGE_ERR_BAD_REQUEST", `unknown action '${action.slice(0, 32)}'`);
  }
  const query = parseQuery(f.query);
  if (!query.ok) return refuse(query.error);
  const slash = path.indexOf("/");
  const [app, name] = slash < 0 ? [MEDIAMTX_DEFAULT_APP, path] : [path.slice(0, slash), path.slice(slash + 1)];
  // The token field first (Bearer, password or ?token=), else `jwtoken` of the query (docs/hooks.md §3.2).
  const withToken = token ? { ...query.value, jwtoken: token } : query.value;
  const req = hookRequest(action === "publish" ? "publish" : "play", { app, name, query: withToken, ip });
  return typeof req === "string" ? refuse(req) : { kind: "decide", request: req };
}

/** True when the request carried no credential at all: MediaMTX may then ask the client for some. */
export function mediamtxWithoutCredentials(raw: string): boolean {
  const o = jsonObject(raw);
  return o !== null && !o.user && !o.password && !o.token;
}

/**
 * 2xx allows. 401 only when the play lacks a token and the request had no credentials at all: for
 * RTSP, HLS and WebRTC MediaMTX then asks the client, which retries with them (docs/hooks.md §3.3).
 */
export function answerMediamtx(verdict: Verdict, withoutCredentials: () => boolean): HookAnswer {
  if (verdict.allow) return { status: 204, body: "" };
  // Asked only here: it parses the body a second time, which an allowed call never needs.
  const ask = verdict.code === "EDGE_ERR_TOKEN_MISSING" && withoutCredentials();
  return { status: payloadStatus(verdict.code) ?? (ask ? 401 : 403), contentType: JSON_TYPE, body: JSON.stringify(errorBody(verdict.code, verdict.detail)) };
}
