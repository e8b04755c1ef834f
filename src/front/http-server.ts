// The HTTP(S) server of both HTTP ports (issue 18): the playback port and the control API get the
// same front door, so what one port bounds the other does too.
// - Connection caps, total and per client address, counted at TCP accept: before the TLS handshake
//   and before any request byte is parsed (as RTMP does in src/ingest/rtmp-ingest.ts). The address
//   is the socket's: a forwarding header is a request byte, not yet read.
// - Deadlines: request line + headers, the whole request (a body trickled byte by byte is cut), and
//   a connection with no bytes either way. Node checks its request deadlines every
//   `connectionsCheckingInterval` (30 s by default, why partial headers got 408 after 86 s); here
//   the check runs often enough that a deadline is kept to about a second.
// - Node's own refusals (a malformed request line, an unknown or lower-case method, 431, a timeout,
//   CONNECT) are answered in the edge's `{ code, reason }` envelope instead of Node's bare status line.
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import type tls from "node:tls";
import { normalizeIp } from "../primitives/client-ip.js";
import { ERRORS, errorBody, type ErrorCode } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/metrics.js";

export interface HttpLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
}

export interface HttpServerOptions {
  /** The `protocol` label of bintu_edge_connections_closed_total: `flv` (playback port) or `api`. */
  protocol: "flv" | "api";
  limits: HttpLimits;
  metrics: Metrics;
  log: Logger;
  /** HTTPS with this certificate; absent = plain HTTP. */
  tls?: { options: tls.SecureContextOptions; handshakeTimeoutMs: number } | undefined;
}

const MUTED = (): void => {};

/** Node's parser errors as stable codes; anything else it refuses is a malformed request. */
const CLIENT_ERROR_CODES: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: "EDGE_ERR_HEADERS_TOO_LARGE",
  ERR_HTTP_REQUEST_TIMEOUT: "EDGE_ERR_REQUEST_TIMEOUT",
  HPE_HEADERS_TIMEOUT: "EDGE_ERR_REQUEST_TIMEOUT",
};

/** A complete HTTP/1.1 answer written on a socket Node's parser has given up on. */
export function rawErrorAnswer(code: ErrorCode, detail?: string): string {
  const status = ERRORS[code].http;
  const body = JSON.stringify(errorBody(code, detail));
  return (
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Error"}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

export function createHttpServer(handler: http.RequestListener, opts: HttpServerOptions): http.Server | https.Server {
  const { limits } = opts;
  const serverOptions: http.ServerOptions = {
    // Node refuses a header deadline past the whole request's: the request's then bounds both.
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    // A kept-alive connection waits for its next request as long as any idle one (Node's 5 s made
    // clients reconnect for every burst; fastify's own default was 72 s, past the idle deadline).
    keepAliveTimeout: limits.idleTimeoutMs,
    // Node answers a request without Host with a bare 400 and no body; the edge routes on the path
    // only, so such a request gets the same answer as any other (an HTTP/1.0 client sends none).
    requireHostHeader: false,
  };
  let server: http.Server | https.Server;
  if (opts.tls) {
    const s = https.createServer({ ...serverOptions, ...opts.tls.options, handshakeTimeout: opts.tls.handshakeTimeoutMs }, handler);
    // TLS 1.2 renegotiation is a CPU lever for the client and serves no HTTP purpose (issue 15 §3).
    s.on("secureConnection", (socket: tls.TLSSocket) => socket.disableRenegotiation());
    server = s;
  } else {
    server = http.createServer(serverOptions, handler);
  }
  // An Expect other than 100-continue: Node answers a bare 417; the request is served as if it had none.
  server.on("checkExpectation", handler);
  guard(server, opts);
  return server;
}

function guard(server: http.Server, opts: HttpServerOptions): void {
  const { limits, metrics, log, protocol } = opts;
  const perIp = new Map<string, number>();
  let open = 0;
  const count = (code: ErrorCode) => metrics.connectionsClosed.inc({ protocol, reason: ERRORS[code].reason });

  // "connection" is the raw TCP socket on both servers (TLS wraps it only later, on https); Node's
  // own listener has attached a parser on plain http, which has read nothing yet.
  server.on("connection", (socket: net.Socket) => {
    socket.on("error", MUTED);
    const ip = normalizeIp(socket.remoteAddress);
    const held = perIp.get(ip) ?? 0;
    const capped: ErrorCode | null =
      open >= limits.maxConnections ? "EDGE_ERR_TOO_MANY_CONNECTIONS" : held >= limits.maxConnectionsPerIp ? "EDGE_ERR_TOO_MANY_CONNECTIONS_IP" : null;
    if (capped) {
      count(capped);
      log.warn(`${protocol} connection refused`, { code: capped });
      socket.destroy();
      return;
    }
    open++;
    perIp.set(ip, held + 1);
    socket.once("close", () => {
      open--;
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left > 0) perIp.set(ip, left);
      else perIp.delete(ip); // no entry outlives its address's last connection
    });
  });

  // No bytes either way for idleTimeoutMs. Writes reset the timer, so a player receiving media is
  // never idle; one that stops reading is the slow-consumer rule's. Node reports the end of a
  // kept-alive connection's wait through the same event: that is not counted, only a connection
  // that never sent a request, or went quiet inside one.
  server.setTimeout(limits.idleTimeoutMs, (socket: net.Socket) => {
    if (!(served.has(socket) && !inFlight.has(socket))) count("EDGE_ERR_IDLE_TIMEOUT");
    socket.destroy();
  });

  // Requests answered before their body was all received (a refusal, a HEAD): a deadline that ends
  // such a body must not write a second, unasked-for answer.
  const answeredEarly = new WeakSet<net.Socket>();
  // Sockets that have had a request, and those with one being answered now (for the idle count).
  const served = new WeakSet<net.Socket>();
  const inFlight = new WeakSet<net.Socket>();
  // Listeners made once per server, not per request, and added with `on`: each of these events is
  // emitted once per request object, so `once`'s wrapper (two objects and a removal per event) buys
  // nothing; three closures and three wrappers per request were ~1 µs of a hook call (issue 14 §9).
  // `this` is the emitter; a response's `req.socket` stays set after the response lets go of it.
  function onResponseClose(this: http.ServerResponse) {
    inFlight.delete(this.req.socket);
  }
  function onResponseFinish(this: http.ServerResponse) {
    if (!this.req.complete) answeredEarly.add(this.req.socket);
  }
  function onRequestEnd(this: http.IncomingMessage) {
    answeredEarly.delete(this.socket);
  }
  const track = (req: http.IncomingMessage, res: http.ServerResponse) => {
    served.add(req.socket);
    inFlight.add(req.socket);
    res.on("close", onResponseClose);
    res.on("finish", onResponseFinish);
    req.on("end", onRequestEnd);
  };
  // A request with an Expect other than 100-continue comes as checkExpectation, not request, and is
  // served all the same (createHttpServer): tracked the same, or a HEAD answered before its body
  // arrived got a second, unasked-for 400 when Node then found the body missing.
  server.on("request", track);
  server.on("checkExpectation", track);

  server.on("clientError", (err: NodeJS.ErrnoException, socket: net.Socket) => {
    // On HTTPS a failed TLS handshake arrives here too (https.Server forwards tlsClientError, and
    // destroys the socket only when no one listens): there is no HTTP to answer in, and an answer
    // written would wait forever for a handshake that is not coming.
    const handshaking = (socket as net.Socket & { _secureEstablished?: boolean })._secureEstablished === false;
    if (handshaking || /^ERR_(SSL|TLS)_/.test(err.code ?? "") || "library" in err) {
      if (err.code === "ERR_TLS_HANDSHAKE_TIMEOUT") count("EDGE_ERR_HANDSHAKE_TIMEOUT");
      return void socket.destroy();
    }
    const code = CLIENT_ERROR_CODES[err.code ?? ""] ?? "EDGE_ERR_BAD_REQUEST";
    if (code === "EDGE_ERR_REQUEST_TIMEOUT") count(code);
    // A reset or a write after close: no one is there to read an answer; or it has had its answer.
    const pending = (socket as net.Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage;
    if (err.code === "ECONNRESET" || !socket.writable || pending?.headersSent || answeredEarly.has(socket)) return void socket.destroy();
    socket.end(rawErrorAnswer(code));
  });

  // CONNECT is not served: without a listener Node closes the socket with no answer at all.
  server.on("connect", (_req: http.IncomingMessage, socket: net.Socket) => {
    socket.on("error", MUTED);
    socket.end(rawErrorAnswer("EDGE_ERR_METHOD_NOT_ALLOWED", "CONNECT"));
  });
}
