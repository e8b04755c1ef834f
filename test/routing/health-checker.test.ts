// HealthChecker counting against a real HTTP server whose answers the test switches: an up edge
// goes down on exactly the `fall`-th failed probe, comes back on the `rise`-th pass; a slow,
// oversized or malformed load report is a failure like a 500.
import t, { type Test } from "tap";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { loadConfig } from "../../src/config/load.js";
import { HealthChecker, parseLoad } from "../../src/routing/health.js";
import { waitFor } from "../helpers/wait.js";

type Mode = "ok" | "500" | "slow" | "huge" | "garbage";

async function fakeEdge(t: Pick<Test, "teardown">): Promise<{ url: string; set(m: Mode): void; probes: () => number }> {
  let mode: Mode = "ok";
  let probes = 0;
  const server: Server = createServer((req, res) => {
    if (req.url === "/readyz") probes++;
    if (mode === "500") return void res.writeHead(500).end();
    if (mode === "slow") return; // never answers: the probe's timeout ends it
    if (req.url === "/readyz") return void res.writeHead(200).end('{"status":"ready"}');
    if (mode === "huge") return void res.writeHead(200).end(JSON.stringify({ sessions: 1, egressMbps: 1, cpu: 0, pad: "x".repeat(64 * 1024) }));
    if (mode === "garbage") return void res.writeHead(200).end('{"sessions":"many"}');
    res.writeHead(200).end(JSON.stringify({ sessions: 150, egressMbps: 20, cpu: 0.5 }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  server.on("connection", (s) => t.teardown(() => s.destroy()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, set: (m) => (mode = m), probes: () => probes };
}

const entry = (api: string, capacity = {}) =>
  loadConfig({ env: { EDGE_ROUTING_EDGES: JSON.stringify([{ id: "e", region: "r", lat: 0, lon: 0, api, urls: {}, capacity }]) } }).routing.edges[0];

t.test("down on the fall-th failure, up on the rise-th pass, load as a share of capacity", async (t) => {
  const edge = await fakeEdge(t);
  const transitions: { up: boolean; probes: number; why: string }[] = [];
  const checker = new HealthChecker({
    intervalMs: 30,
    timeoutMs: 200,
    rise: 3,
    fall: 2,
    onTransition: (_e, up, why) => transitions.push({ up, probes: edge.probes(), why }),
  });
  t.teardown(() => checker.close());
  checker.setEdges([entry(edge.url, { sessions: 1000, egressMbps: 100 })]);
  await checker.start();
  t.same(transitions, [{ up: true, probes: 1, why: "probe passed" }], "the first probe decides at once");
  t.equal(checker.status.healthy[0], 1);
  t.equal(checker.status.load[0], 0.2, "egress 20 of 100 Mbit/s outweighs 150 of 1,000 sessions");
  checker.noteRouted(0);
  t.equal(checker.status.load[0], 0.2, "one routed session: 151/1000 still below the egress share");
  t.match(checker.snapshot()[0], { id: "e", up: true, load: { sessions: 150, egressMbps: 20, cpu: 0.5 } });

  const failFrom = edge.probes();
  edge.set("500");
  await waitFor("down", () => transitions.length === 2);
  t.equal(transitions[1].up, false);
  t.equal(transitions[1].probes - failFrom, 2, "exactly fall (2) failed probes");
  t.match(transitions[1].why, /readyz answered 500/);
  t.equal(checker.status.healthy[0], 0);

  const passFrom = edge.probes();
  edge.set("ok");
  await waitFor("up", () => transitions.length === 3);
  t.equal(transitions[2].probes - passFrom, 3, "exactly rise (3) passes");
  t.equal(checker.status.healthy[0], 1);
});

t.test("slow, oversized and malformed answers fail the probe; the edge stays counted down", async (t) => {
  for (const mode of ["slow", "huge", "garbage"] as const) {
    const edge = await fakeEdge(t);
    edge.set(mode);
    const reasons: string[] = [];
    const checker = new HealthChecker({ intervalMs: 1000, timeoutMs: 100, rise: 1, fall: 1, onTransition: (_e, up, why) => reasons.push(`${up}:${why}`) });
    checker.setEdges([entry(edge.url)]);
    await checker.start();
    await checker.close();
    t.equal(checker.status.healthy[0], 0, mode);
    t.match(
      reasons[0],
      mode === "slow" ? /^false:no answer within 100 ms/ : mode === "huge" ? /^false:response larger than 16384 bytes/ : /^false:not a load report/,
      mode,
    );
  }
});

t.test("a reload keeps the state of edges whose id and API stay; an edge without an API is up", async (t) => {
  const edge = await fakeEdge(t);
  const checker = new HealthChecker({ intervalMs: 10_000, timeoutMs: 500, rise: 2, fall: 2 });
  t.teardown(() => checker.close());
  checker.setEdges([entry(edge.url)]);
  await checker.start();
  const probes = edge.probes();
  checker.setEdges([
    { ...entry(edge.url), drain: true },
    { ...entry(""), id: "static" },
  ]);
  t.same([...checker.status.healthy], [1, 1], "kept up without a new probe; the unprobed one is up");
  t.equal(edge.probes(), probes);
});

t.test("parseLoad accepts only finite non-negative numbers", async (t) => {
  t.same(parseLoad('{"sessions":1,"egressMbps":2.5,"cpu":0,"extra":true}'), { sessions: 1, egressMbps: 2.5, cpu: 0 });
  for (const bad of ['{"sessions":-1,"egressMbps":0,"cpu":0}', '{"sessions":1,"egressMbps":null,"cpu":0}', "null", "[]", "{"])
    t.throws(() => parseLoad(bad), bad);
});
