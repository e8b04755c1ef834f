// The HTTPS front door (issue 18 §1-3): with TLS on, the playback and API ports keep the same caps
// (counted on the raw TCP connection, before any TLS work), deadlines and envelopes as plain HTTP.
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import t from "tap";
import { startEdge } from "../helpers/edge.js";
import { makePki } from "../helpers/pki.js";
import { envelopeProblem, parseAnswers } from "../helpers/raw-http.js";

const pki = makePki(t);
const ca = readFileSync(pki.caFile, "utf8");
const leaf = pki.leaf(0x3003);

/** Speaks `request` over TLS and reads until the server closes (or `waitMs`). */
function tlsExchange(port: number, request: string, keepOpen = false, waitMs = 5_000): Promise<{ bytes: Buffer; ms: number; closed: boolean }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = tls.connect({ port, host: "127.0.0.1", ca, servername: "localhost" }, () => {
      socket.write(request);
      if (!keepOpen) socket.end();
    });
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), ms: Date.now() - started, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
  });
}

t.test("HTTPS ports: envelopes, deadlines and caps at accept", async (t) => {
  const edge = await startEdge(t, {
    EDGE_TLS_CERT_FILE: leaf.cert,
    EDGE_TLS_KEY_FILE: leaf.key,
    EDGE_RTMP_TLS_PORT: "0",
    EDGE_API_REQUEST_TIMEOUT_MS: "1500",
    EDGE_PLAYBACK_MAX_CONNECTIONS_PER_IP: "3",
  });
  const { api, playback } = { api: edge.addresses.api.port, playback: edge.addresses.playback.port };

  for (const [port, request, status] of [
    [api, "get /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    [api, "GET /stream/%ff HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    [playback, `GET /live/x.flv?jwtoken=${"j".repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431],
    [playback, "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 405],
  ] as const) {
    const [answer] = parseAnswers((await tlsExchange(port, request)).bytes);
    t.equal(answer?.status, status, request.slice(0, 40));
    if (answer) t.equal(envelopeProblem(answer), null, "in the envelope");
  }

  const slow = await tlsExchange(
    api,
    "POST /api/v1/splay/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{",
    true,
    6_000,
  );
  t.ok(slow.closed && slow.ms < 4_000, `a trickled body over TLS is cut (${slow.ms} ms)`);
  t.equal(parseAnswers(slow.bytes)[0]?.status, 408);

  // Raw TCP connections that never start TLS: the cap counts them before any handshake.
  const held = await Promise.all(
    Array.from(
      { length: 5 },
      () =>
        new Promise<boolean>((resolve) => {
          const s = net.connect(playback, "127.0.0.1");
          const timer = setTimeout(() => (s.destroy(), resolve(false)), 700);
          s.on("error", () => {});
          s.on("close", () => (clearTimeout(timer), resolve(true)));
        }),
    ),
  );
  t.equal(held.filter(Boolean).length, 2, "2 of 5 raw connections from one address refused before TLS");
});
