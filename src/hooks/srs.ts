// SRS `http_hooks` (on_connect, on_publish, on_play, on_unpublish, on_stop, …) as one AccessRequest,
// and the decision as the body SRS needs (docs/hooks.md §2). Pure.
import { errorBody } from "../errors.js";
import { parseQuery } from "../primitives/stream-key.js";
import { hookRequest, JSON_TYPE, jsonObject, payloadStatus, refuse, str, type HookAnswer, type HookCall, type Verdict } from "./types.js";

export function parseSrs(raw: string): HookCall {
  const o = jsonObject(raw);
  if (!o) return refuse("EDGE_ERR_BAD_REQUEST", "body is not a JSON object");
  const action = str(o, "action");
  const serverId = str(o, "server_id");
  // A string in SRS 4+; a number in older builds.
  const clientId = typeof o.client_id === "string" || typeof o.client_id === "number" ? String(o.client_id) : "";
  if (action === null || serverId === null) return refuse("EDGE_ERR_BAD_REQUEST", "`action` and `server_id` must be strings");
  const id = (role: string) => `srs-${serverId}-${clientId}-${role}`;
  switch (action) {
    case "on_connect": // the stream is not named yet (RTMP)
    case "on_close":
    case "on_dvr":
    case "on_hls":
      return { kind: "pass" };
    case "on_unpublish":
      return { kind: "done", sessionIds: [id("publisher")] };
    case "on_stop":
      return { kind: "done", sessionIds: [id("player")] };
    case "on_publish":
    case "on_play":
      break;
    default:
      return refuse("EDGE_ERR_BAD_REQUEST", `unknown action '${action.slice(0, 32)}'`);
  }
  const [app, stream, param, ip, pageUrl, tcUrl] = ["app", "stream", "param", "ip", "pageUrl", "tcUrl"].map((k) => str(o, k));
  if (app === null || stream === null || param === null || ip === null || pageUrl === null || tcUrl === null || clientId === "") {
    return refuse("EDGE_ERR_BAD_REQUEST", "a publish or play needs string app, stream, param, ip and a client_id");
  }
  // `param` keeps its leading `?` and may end in a `#fragment` (docs/hooks.md §2.2).
  const hash = param.indexOf("#");
  const query = parseQuery((hash < 0 ? param : param.slice(0, hash)).replace(/^\?/, ""));
  if (!query.ok) return refuse(query.error);
  const role = action === "on_publish" ? "publisher" : "player";
  const req = hookRequest(role === "publisher" ? "publish" : "play", { app, name: stream, query: query.value, ip, referer: pageUrl, clientId, tcUrl });
  if (typeof req === "string") return refuse(req);
  // SRS names no protocol; on_play also comes for HTTP-FLV, HLS and WebRTC: the tcUrl's scheme says which.
  const protocol = /^([a-z][a-z0-9+.-]*):/i.exec(tcUrl)?.[1].toLowerCase() ?? "rtmp";
  return { kind: "decide", request: req, session: { id: id(role), role, protocol, clientId } };
}

/** SRS allows only 200/201 with an integer `code` 0; anything else fails the hook (docs/hooks.md §2.3). */
export function answerSrs(verdict: Verdict): HookAnswer {
  if (verdict.allow) return { status: 200, contentType: JSON_TYPE, body: '{"code":0}' };
  const status = payloadStatus(verdict.code) ?? 403;
  const { code, reason } = errorBody(verdict.code, verdict.detail);
  return { status, contentType: JSON_TYPE, body: JSON.stringify({ code: status, error: code, reason }) };
}
