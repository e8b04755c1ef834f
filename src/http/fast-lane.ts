// The API port's fast lane (issue 14 §9): the hot routes with fixed paths — the foreign servers'
// auth hooks, `GET /v1/authorize/play` and `GET /v1/route` — answered on Node's `request` event
// before fastify, which gets every other request as before. Measured on this machine (autocannon,
// server CPU per request; bench/README.md, `bench:hooks`): a POST with a small body answered by a
// no-op route cost ~7 µs (~35%) more CPU through fastify (request and reply objects, hook runners,
// the content-type parser, the router) than the same answer written here, which costs about what
// fastify's `GET /healthz` does.
//
// A route lives here or in fastify, never in both. What fastify did for these routes is done here
// on purpose: the same statuses, envelopes and headers (`content-type`, `content-length`), HEAD
// answered like GET without its body (fastify's exposeHeadRoutes), an unknown method left to
// fastify (its 404), a path matched as find-my-way matches it (query after `?` or `#`, percent-
// escapes decoded with decodeURI), a throw answered EDGE_ERR_INTERNAL, and a closing server's 503
// (once fastify closes, everything goes to it again).
import type http from "node:http";
import { ERRORS, errorBody, type ErrorCode } from "../errors.js";

/** Answers one request; it owns `res` from here on. */
export type LaneHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

/** A route's handlers by method; `get` answers HEAD too. */
export interface LaneRoute {
  readonly get?: LaneHandler;
  readonly post?: LaneHandler;
}

export const JSON_UTF8 = "application/json; charset=utf-8";

export class FastLane {
  private readonly routes = new Map<string, LaneRoute>();
  private closing = false;

  add(path: string, route: LaneRoute): void {
    if (this.routes.has(path)) throw new Error(`fast lane: ${path} twice`);
    this.routes.set(path, route);
  }

  /** From now on fastify answers everything (with its 503 while it closes). */
  close(): void {
    this.closing = true;
  }

  /** The server's request listener: the lane's routes, else `next` (fastify). */
  listener(next: http.RequestListener): http.RequestListener {
    return (req, res) => {
      const handler = this.closing ? undefined : this.match(req);
      if (handler === undefined) return next(req, res);
      run(res, handler, req);
    };
  }

  private match(req: http.IncomingMessage): LaneHandler | undefined {
    const url = req.url ?? "";
    let end = url.indexOf("?");
    const hash = url.indexOf("#");
    if (hash >= 0 && (end < 0 || hash < end)) end = hash;
    let path = end < 0 ? url : url.slice(0, end);
    let route = this.routes.get(path);
    if (route === undefined && path.includes("%")) {
      // find-my-way decodes the path with decodeURI (`/v1/%72oute` is /v1/route); a malformed
      // escape is fastify's 400.
      try {
        path = decodeURI(path.replace(/%25/g, "%2525"));
      } catch {
        return undefined;
      }
      route = this.routes.get(path);
    }
    if (route === undefined) return undefined;
    const method = req.method;
    return method === "GET" || method === "HEAD" ? route.get : method === "POST" ? route.post : undefined;
  }
}

/**
 * A complete answer, as fastify wrote it: a body with its type and length; none at all for 204; a
 * HEAD gets the headers of the GET answer and no body (Node drops the body of a HEAD answer).
 */
export function answer(res: http.ServerResponse, status: number, contentType: string | undefined, body: string, first?: readonly string[]): void {
  // `first`: header name / value pairs written before these, in one array with them: headers set
  // with setHeader before an array writeHead take Node's slower merging path.
  if (contentType !== undefined) {
    const headers = ["content-type", contentType, "content-length", String(Buffer.byteLength(body))];
    res.writeHead(status, first ? [...first, ...headers] : headers);
    res.end(body);
  } else if (status === 204 && res.req.method !== "HEAD" && !first) {
    res.writeHead(204);
    res.end();
  } else {
    res.writeHead(status, first ? [...first, "content-length", "0"] : ["content-length", "0"]);
    res.end();
  }
}

export function answerJson(res: http.ServerResponse, status: number, value: unknown): void {
  answer(res, status, JSON_UTF8, JSON.stringify(value));
}

/** The edge's envelope `{ code, reason }` (src/http/wire-codes.ts `edgeError`, without fastify). */
export function laneError(res: http.ServerResponse, code: ErrorCode, detail?: string): void {
  answerJson(res, ERRORS[code].http, errorBody(code, detail));
}

function internalError(res: http.ServerResponse): void {
  if (res.headersSent) return void res.destroy();
  laneError(res, "EDGE_ERR_INTERNAL");
}

/**
 * Calls `step`, which owns `res`: a throw, or a rejection of the promise it returns, is the lane's
 * EDGE_ERR_INTERNAL (fastify's 500 for a throwing route). A step that answers synchronously costs
 * no promise at all.
 */
function run<A>(res: http.ServerResponse, step: (arg: A, res: http.ServerResponse) => void | Promise<void>, arg: A): void {
  try {
    const pending = step(arg, res);
    if (pending) pending.catch(() => internalError(res));
  } catch {
    internalError(res);
  }
}

/** A body the lane would not read, as fastify's error handler answered it: code and detail. */
export interface BodyRefusal {
  readonly code: ErrorCode;
  readonly detail: string;
}

const TOO_LARGE: BodyRefusal = { code: "EDGE_ERR_BODY_TOO_LARGE", detail: "Request body is too large" };

/** What the body reader hands on: the text, or why it was not read. */
export type BodyThen = (body: string | BodyRefusal, res: http.ServerResponse) => void | Promise<void>;

/**
 * The request body as UTF-8 text, at most `limit` bytes (api.bodyLimit), read as fastify's string
 * parsers read it: a Content-Length over the limit is refused before a byte is read, a body that
 * grows past it as soon as it does, one shorter or longer than its Content-Length is a 400.
 * What is left unread of a refused body is Node's to discard once the answer is written.
 *
 * `then` gets the outcome in the same turn as the body's `end` (a callback, not a promise: the
 * promise and its turns were ~1 µs of a hook's CPU, issue 14 §9), under the lane's guard: a throw
 * or a rejection there is EDGE_ERR_INTERNAL.
 */
export function readBody(req: http.IncomingMessage, res: http.ServerResponse, limit: number, then: BodyThen): void {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) return run(res, then, TOO_LARGE);
  const chunks: Buffer[] = [];
  let received = 0;
  const stop = (outcome: string | BodyRefusal) => {
    req.removeListener("data", onData);
    req.removeListener("end", onEnd);
    req.removeListener("error", onError);
    run(res, then, outcome);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) return stop(TOO_LARGE);
    chunks.push(chunk);
  };
  const onEnd = () => {
    if (!Number.isNaN(declared) && received !== declared)
      return stop({ code: "EDGE_ERR_BAD_REQUEST", detail: "Request body size did not match Content-Length" });
    stop(chunks.length === 1 ? chunks[0].toString("utf8") : Buffer.concat(chunks, received).toString("utf8"));
  };
  const onError = (err: Error) => stop({ code: "EDGE_ERR_BAD_REQUEST", detail: err.message });
  req.on("data", onData);
  req.on("end", onEnd);
  req.on("error", onError);
}
