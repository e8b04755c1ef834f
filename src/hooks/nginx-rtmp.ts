// nginx-rtmp-module's notify hooks (on_connect, on_publish, on_play, on_update, on_*_done) as one
// AccessRequest, and the decision as the status it reads (docs/hooks.md §1). Pure.
import { errorBody } from "../errors.js";
import {
  firstWins,
  formPairs,
  hookRequest,
  JSON_TYPE,
  payloadStatus,
  refuse,
  type HookAnswer,
  type HookCall,
  type HookSession,
  type Verdict,
} from "./types.js";

/**
 * Fields nginx writes itself, before the client's raw args: the first occurrence is the server's,
 * a later one is a client's injection (`name?addr=1.2.3.4&call=play`, docs/hooks.md §1.3).
 */
const SERVER_FIELDS = new Set([
  "app",
  "flashver",
  "swfurl",
  "tcurl",
  "pageurl",
  "addr",
  "clientid",
  "call",
  "name",
  "type",
  "epoch",
  "start",
  "duration",
  "reset",
  "time",
  "timestamp",
]);

/** The token keys a play may carry (a full token or its short handle, docs/hooks.md §6). */
const TOKEN_KEYS = ["jwtoken", "jwh"] as const;

/**
 * Splits the query of a hook URL: nginx's GET mode appends `?fields` to the configured URL, so
 * `…/nginx-rtmp?secret=S` arrives as `?secret=S?app=…` (docs/hooks.md §1.2). Fields always start
 * with `app=` (or `call=` for disconnect); anything before the first inner `?` is the URL's own.
 */
export function splitNginxQuery(query: string): { own: string; fields: string } {
  if (query.startsWith("app=") || query.startsWith("call=")) return { own: "", fields: query };
  const inner = query.indexOf("?");
  return inner < 0 ? { own: query, fields: "" } : { own: query.slice(0, inner), fields: query.slice(inner + 1) };
}

export function parseNginxRtmp(form: string): HookCall {
  // A Map for the server's fields: keyed stores of fresh strings into an object were most of this
  // function's cost (each key is internalised first; measured for issue 14 §9).
  const fields = new Map<string, string>();
  const clientArgs: [string, string][] = [];
  for (const pair of formPairs(form)) {
    if (!SERVER_FIELDS.has(pair[0])) clientArgs.push(pair);
    else if (!fields.has(pair[0])) fields.set(pair[0], pair[1]);
  }
  const server = {
    app: fields.get("app"),
    flashver: fields.get("flashver"),
    tcurl: fields.get("tcurl"),
    pageurl: fields.get("pageurl"),
    addr: fields.get("addr"),
    clientid: fields.get("clientid"),
    call: fields.get("call"),
    name: fields.get("name"),
  };
  const call = server.call;
  if (call === undefined) return refuse("EDGE_ERR_BAD_REQUEST", "no `call` field: not an nginx-rtmp notify request");
  switch (call) {
    case "connect":
    case "disconnect":
    case "record_done":
      // The stream is not named yet (connect) or the call is a notice nginx ignores the answer to.
      return { kind: "pass" };
    case "publish_done":
      return { kind: "done", sessionIds: [sessionId(server.clientid, "publisher")] };
    case "play_done":
      return { kind: "done", sessionIds: [sessionId(server.clientid, "player")] };
    case "done":
      return { kind: "done", sessionIds: [sessionId(server.clientid, "publisher"), sessionId(server.clientid, "player")] };
    case "publish":
    case "play":
    case "update_publish":
    case "update_play":
      break;
    default:
      return refuse("EDGE_ERR_BAD_REQUEST", `unknown call '${call.slice(0, 32)}'`);
  }
  // A local relay (push / pull between nginx's own applications) was decided when it came in.
  if (server.addr?.startsWith("unix:") && server.flashver === "ngx-local-relay") return { kind: "pass" };
  const clientId = server.clientid ?? "";
  if (!/^\d{1,20}$/.test(clientId)) return refuse("EDGE_ERR_BAD_REQUEST", "no clientid");
  const role = call === "publish" || call === "update_publish" ? "publisher" : "player";
  const query = firstWins(tcUrlTokens(server.tcurl), firstWins(clientArgs));
  const req = hookRequest(role === "publisher" ? "publish" : "play", {
    app: server.app ?? "",
    name: server.name ?? "",
    query,
    ip: server.addr ?? "",
    referer: server.pageurl,
    clientId,
    tcUrl: server.tcurl,
  });
  if (typeof req === "string") return refuse(req);
  const session: HookSession = { id: sessionId(clientId, role), role, protocol: "rtmp", clientId };
  return call.startsWith("update_") ? { kind: "update", request: req, session } : { kind: "decide", request: req, session };
}

const sessionId = (clientId: string | undefined, role: "publisher" | "player") => `nginx-rtmp-${clientId ?? ""}-${role}`;

/** `jwtoken` / `jwh` from the tcUrl's query (connect args reach later calls only inside `tcurl`). */
function tcUrlTokens(tcUrl: string | undefined): [string, string][] {
  const q = tcUrl?.indexOf("?") ?? -1;
  if (!tcUrl || q < 0) return [];
  const params = new URLSearchParams(tcUrl.slice(q + 1));
  return TOKEN_KEYS.flatMap((k) => {
    const v = params.get(k);
    return v === null ? [] : [[k, v] as [string, string]];
  });
}

/**
 * nginx reads only the status line's class (docs/hooks.md §1.4): 2xx goes on, anything else ends
 * the session (on_update with `notify_update_strict on` included). The JSON body is for its log.
 */
export function answerNginxRtmp(verdict: Verdict): HookAnswer {
  if (verdict.allow) return { status: 204, body: "" };
  return { status: payloadStatus(verdict.code) ?? 403, contentType: JSON_TYPE, body: JSON.stringify(errorBody(verdict.code, verdict.detail)) };
}
