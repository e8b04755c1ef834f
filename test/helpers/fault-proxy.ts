// An HTTP proxy on 127.0.0.1 in front of a real bintu (a second edge's embedded registry) that
// misbehaves on demand (docs/reliability.md §3 "chaos": no Docker, so no toxiproxy). It counts requests
// and open client connections, so tests can assert "one request" and "no socket left open".
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

import type { Test } from "tap";

export type FaultMode =
  | "pass" // forward unchanged
  | "refuse" // listener closed: connection refused
  | "hang" // accept the request, never answer
  | "slow" // forward after `delayMs`
  | "5xx" // 503 with bintu's error envelope
  | "badjson" // 200, body is not JSON
  | "schema" // 200, JSON of the wrong shape
  | "huge" // 200, a valid 10 MiB JSON list, chunked (no Content-Length to reject early)
  | "redirect" // 302 to the same path upstream
  | "flap" // alternate: pass, 503, pass, 503…
  | "strip"; // forward without the `streamname` filter, like nanoStream's own bintu

export interface FaultProxy {
  readonly url: string;
  setMode(mode: FaultMode, opts?: { delayMs?: number }): Promise<void>;
  /** Requests that reached the proxy (in any mode but refuse). */
  readonly requests: number;
  readonly lastUrl: string | undefined;
  /** Client connections open right now. */
  readonly openConnections: number;
  resetCount(): void;
  close(): Promise<void>;
}

const HUGE_BYTES = 10 * 1024 * 1024;
const PAD_STREAM = '{"id":"pad","state":"live","tags":[],"ingest":{"rtmp":{"streamname":"pad"}}}';

export async function startFaultProxy(t: Pick<Test, "teardown">, upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  let mode: FaultMode = "pass";
  let delayMs = 0;
  let requests = 0;
  let flapped = 0;
  let lastUrl: string | undefined;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, path: string) => {
    const headers = withoutHopByHop({ ...req.headers, host: target.host });
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path, headers, agent: false }, (answer) => {
      // The proxy's own keep-alive policy (below) applies, not the upstream's.
      res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers));
      answer.pipe(res);
    });
    up.on("error", () => res.destroy());
    res.on("close", () => up.destroy());
    req.pipe(up);
  };

  const server = http.createServer((req, res) => {
    requests++;
    lastUrl = req.url;
    const path = req.url ?? "/";
    const send = (status: number, body: string, headers: http.OutgoingHttpHeaders = {}) =>
      res.writeHead(status, { "content-type": "application/json", ...headers }).end(body);
    switch (mode) {
      case "hang":
        return; // the socket stays open until the client gives up
      case "slow": {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!res.destroyed) forward(req, res, path); // the client may have given up meanwhile
        }, delayMs);
        timers.add(timer);
        return;
      }
      case "5xx":
        return send(503, '{"error":{"message":"Service Unavailable","code":5003,"userinfo":{}}}');
      case "badjson":
        return send(200, '[{"id": "unterminated');
      case "schema":
        return send(200, '[{"id":42,"state":"open","ingest":{}}]');
      case "redirect":
        return send(302, "", { location: `${target.origin}${path}` });
      case "huge":
        return streamHuge(res);
      case "flap":
        return flapped++ % 2 === 0 ? forward(req, res, path) : send(503, "{}");
      case "strip": {
        const url = new URL(path, "http://proxy");
        url.searchParams.delete("streamname");
        return forward(req, res, url.pathname + url.search);
      }
      default:
        return forward(req, res, path);
    }
  });
  // Below 1 s, Node announces `Keep-Alive: timeout=0` and undici does not reuse the socket: a
  // connection still open after a request is then one the client failed to close.
  server.keepAliveTimeout = 500;
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => (server.off("error", reject), resolve()));
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  let listening = true;

  const proxy: FaultProxy = {
    url: `http://127.0.0.1:${port}`,
    async setMode(next, opts = {}) {
      delayMs = opts.delayMs ?? 0;
      flapped = 0;
      mode = next;
      if (next === "refuse" && listening) {
        listening = false;
        await stop();
      } else if (next !== "refuse" && !listening) {
        await listen(port); // same port: clients keep the URL they were given
        listening = true;
      }
    },
    get requests() {
      return requests;
    },
    get lastUrl() {
      return lastUrl;
    },
    get openConnections() {
      return sockets.size;
    },
    resetCount() {
      requests = 0;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      if (listening) await stop();
      listening = false;
    },
  };
  t.teardown(() => proxy.close());
  return proxy;
}

function withoutHopByHop<T extends http.IncomingHttpHeaders>(headers: T): T {
  const copy = { ...headers };
  for (const name of ["connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"]) delete copy[name];
  return copy;
}

/** 10 MiB of a valid stream list, written as fast as the client reads, stopped if it leaves. */
function streamHuge(res: http.ServerResponse): void {
  res.writeHead(200, { "content-type": "application/json" });
  const chunk = Buffer.from((PAD_STREAM + ",").repeat(800));
  let sent = 1;
  res.write("[");
  const pump = () => {
    while (sent < HUGE_BYTES && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once("drain", pump);
    }
    if (!res.destroyed) res.end(PAD_STREAM + "]");
  };
  pump();
}
