// Outbound TLS with tls.caFile (issue 15 §4): another edge whose certificate comes from a private
// CA is probed over https:// with verification on — trusted through tls.caFile, refused without it;
// a remote bintu, the organisation webhook and followed JWKS URLs served over https:// are verified
// the same way.
import https from "node:https";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import t from "tap";
import { trustingFetch } from "../../src/tls/outbound.js";
import { spawnEdge, startEdge } from "../helpers/edge.js";
import { publish } from "../helpers/ffmpeg.js";
import { parsePrometheus, valueOf } from "../helpers/prometheus.js";
import { httpsRequest } from "../helpers/tls-clients.js";
import { waitFor } from "../helpers/wait.js";
import { makePki } from "../helpers/pki.js";

const pki = makePki(t);
const leaf = pki.leaf(0x1001);
const ca = readFileSync(pki.caFile, "utf8");

// A peer edge's control API, as the health checker sees it.
const peer = https.createServer({ cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) }, (req, res) => {
  res.setHeader("content-type", "application/json");
  if (req.url === "/readyz") return res.end(JSON.stringify({ status: "ready" }));
  if (req.url === "/v1/load") return res.end(JSON.stringify({ sessions: 3, egressMbps: 1, cpu: 0.1 }));
  res.statusCode = 404;
  res.end("{}");
});
await new Promise<void>((resolve) => peer.listen(0, "127.0.0.1", resolve));
t.teardown(() => new Promise<void>((resolve) => peer.close(() => resolve())));
const peerUrl = `https://127.0.0.1:${(peer.address() as AddressInfo).port}`;

t.test("the CA file is trusted besides the system store; without it the peer is refused", async (t) => {
  const trusting = trustingFetch([ca]);
  t.teardown(() => trusting.close());
  const res = await trusting.fetch(`${peerUrl}/readyz`);
  t.equal(res.status, 200);
  t.same(await res.json(), { status: "ready" });
  const plain = await fetch(`${peerUrl}/readyz`).then(
    () => "accepted",
    (err: Error & { cause?: { code?: string } }) => err.cause?.code ?? err.message,
  );
  t.equal(plain, "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "the global fetch does not know the private CA");
});

t.test("an edge with tls.caFile probes a peer's HTTPS API and counts it up", async (t) => {
  const edges = [{ id: "peer", region: "r", lat: 0, lon: 0, api: peerUrl, urls: { flv: "https://peer.example.com/live" } }];
  const edge = await startEdge(t, { EDGE_TLS_CA_FILE: pki.caFile, EDGE_ROUTING_EDGES: JSON.stringify(edges) });
  await waitFor("the peer up", async () => (await (await edge.api("/metrics")).text()).includes('bintu_edge_routing_edge_up{edge="peer"} 1'), 10_000);
  const metrics = await (await edge.api("/metrics")).text();
  t.match(metrics, 'bintu_edge_routing_edge_sessions{edge="peer"} 3', "its load report was read over TLS");
});

t.test("a remote bintu over https:// is verified against tls.caFile; without it the edge fails closed", async (t) => {
  // The upstream is another edge's embedded registry, served over HTTPS with the private CA's leaf.
  const key = "upstream-org-key-0123456789abcdef";
  const upstream = await spawnEdge(t, { EDGE_TLS_CERT_FILE: leaf.cert, EDGE_TLS_KEY_FILE: leaf.key, EDGE_RTMP_TLS_PORT: "0", EDGE_BINTU_APIKEY: key });
  const bintu = `https://127.0.0.1:${upstream.addresses.api}`;
  const created = await httpsRequest(`${bintu}/stream`, ca, {
    method: "POST",
    headers: { "X-BINTU-APIKEY": key, "content-type": "application/json" },
    body: "{}",
  });
  t.equal(created.status, 200, created.status === 200 ? "a stream created upstream over HTTPS" : created.text);
  const name = (JSON.parse(created.text) as { ingest: { rtmp: { streamname: string } } }).ingest.rtmp.streamname;

  const remote = (env: Record<string, string>) => spawnEdge(t, { EDGE_BINTU_MODE: "remote", EDGE_BINTU_URL: bintu, EDGE_BINTU_APIKEY: key, ...env });
  const [trusting, plain] = await Promise.all([remote({ EDGE_TLS_CA_FILE: pki.caFile }), remote({})]);
  const authorize = async (api: number) => (await fetch(`http://127.0.0.1:${api}/v1/authorize/play?stream=${name}`)).status;
  const requests = async (api: number, result: string) =>
    valueOf(parsePrometheus(await (await fetch(`http://127.0.0.1:${api}/metrics`)).text()), "bintu_edge_bintu_requests_total", { result });
  t.equal(await authorize(trusting.addresses.api), 204, "with the CA: the stream is found in the upstream bintu");
  t.ok((await requests(trusting.addresses.api, "ok")) >= 1, "over a verified connection");
  t.equal(await authorize(plain.addresses.api), 503, "without it: the upstream's certificate is refused, bintu unavailable, fail closed");
  t.ok((await requests(plain.addresses.api, "network")) >= 1, "counted as a network failure");
  t.equal(await requests(plain.addresses.api, "ok"), 0, "never an answer from an unverified upstream");
});

t.test("the webhook and followed JWKS over https:// are called once tls.caFile trusts them; without it no request leaves", async (t) => {
  const seen: string[] = [];
  let refusedHandshakes = 0;
  const server = https.createServer({ cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) }, (req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      seen.push(req.method === "POST" ? `POST ${req.url} ${new URLSearchParams(body).get("call")}` : `${req.method} ${req.url}`);
      if (req.url === "/jwks.json") res.setHeader("content-type", "application/json");
      res.end(req.url === "/jwks.json" ? JSON.stringify({ keys: [] }) : "");
    });
  });
  // A client that does not trust the certificate aborts the handshake: the server sees it here.
  server.on("tlsClientError", () => refusedHandshakes++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const apiKey = "outbound-tls-key-0123456789abcdef";
  const env = { EDGE_AUTH_JWKS_URLS: `${base}/jwks.json`, EDGE_INGEST_WEBHOOK_URL: `${base}/hook`, EDGE_BINTU_APIKEY: apiKey };

  await spawnEdge(t, env);
  await waitFor("the untrusting edge's JWKS handshake refused", () => refusedHandshakes >= 1, 10_000);
  t.same(seen, [], "without tls.caFile: no request reached the server");

  const edge = await spawnEdge(t, { ...env, EDGE_TLS_CA_FILE: pki.caFile });
  await waitFor("the JWKS fetched", () => seen.includes("GET /jwks.json"), 10_000);
  const created = await fetch(`http://127.0.0.1:${edge.addresses.api}/stream`, {
    method: "POST",
    headers: { "X-BINTU-APIKEY": apiKey, "content-type": "application/json" },
    body: "{}",
  });
  const name = ((await created.json()) as { ingest: { rtmp: { streamname: string } } }).ingest.rtmp.streamname;
  const published = await publish(`rtmp://127.0.0.1:${edge.addresses.rtmp}/live/${name}`, { seconds: 2 }).exited;
  t.equal(published.code, 0, "the webhook allowed the publish");
  await waitFor("publish and publish_done", () => seen.includes("POST /hook publish_done"), 10_000);
  t.ok(seen.includes("POST /hook publish"), `with tls.caFile: the webhook was asked over HTTPS (${seen.join(", ")})`);
});
