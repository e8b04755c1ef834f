// Outbound TLS with tls.caFile (issue 15 §4): another edge whose certificate comes from a private
// CA is probed over https:// with verification on — trusted through tls.caFile, refused without it.
import https from "node:https";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import t from "tap";
import { trustingFetch } from "../../src/tls/outbound.js";
import { startEdge } from "../helpers/edge.js";
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
