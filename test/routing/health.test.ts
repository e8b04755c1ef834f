// The health checker against real edges (issue 7 tests §2): three edges in child processes, a
// router edge in this one. Stop the nearest → clients move within fall × interval; start it again
// on the same port → new clients return within rise × interval.
import t from "tap";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { startEdge, spawnEdge } from "../helpers/edge.js";
import { waitFor } from "../helpers/wait.js";

const INTERVAL_MS = 200;
const TIMEOUT_MS = 300;
const RISE = 2;
const FALL = 2;

const stop = async (child: ChildProcess) => {
  if (child.exitCode !== null) return;
  child.kill("SIGTERM");
  await once(child, "exit");
};

t.test("stop the nearest edge: traffic moves; start it again: it returns", async (t) => {
  const [berlin, paris, newYork] = await Promise.all([spawnEdge(t), spawnEdge(t), spawnEdge(t)]);
  const entry = (id: string, region: string, lat: number, lon: number, ports: { api: number; playback: number }) => ({
    id,
    region,
    lat,
    lon,
    api: `http://127.0.0.1:${ports.api}`,
    urls: { flv: `http://127.0.0.1:${ports.playback}` },
  });
  const router = await startEdge(t, {
    EDGE_API_TRUST_PROXY: "127.0.0.1/32",
    // Clients 10.1.0.0/16 sit in Berlin; the forwarding proxy (this test) is trusted.
    EDGE_GEO_OVERRIDES: JSON.stringify([{ cidr: "10.1.0.0/16", lat: 52.52, lon: 13.4 }]),
    EDGE_ROUTING_EDGES: JSON.stringify([
      entry("ber-1", "eu", 52.5, 13.4, berlin.addresses),
      entry("par-1", "eu", 48.86, 2.35, paris.addresses),
      entry("nyc-1", "us", 40.71, -74.0, newYork.addresses),
    ]),
    EDGE_ROUTING_HEALTH_INTERVAL_MS: String(INTERVAL_MS),
    EDGE_ROUTING_HEALTH_TIMEOUT_MS: String(TIMEOUT_MS),
    EDGE_ROUTING_HEALTH_RISE: String(RISE),
    EDGE_ROUTING_HEALTH_FALL: String(FALL),
  });
  const { name } = await router.createStream();
  let client = 0;
  // A new client each time (sticky clients would rightly stay where they are).
  const route = async () => {
    client++;
    const res = await router.api(`/v1/route?stream=${name}&protocol=flv`, { key: null, headers: { "x-forwarded-for": `10.1.${client >> 8}.${client & 255}` } });
    return (await res.json()) as { edge: string; reason: string; distanceKm: number; url: string };
  };

  const first = await route();
  t.equal(first.edge, "ber-1", "all three probed at start: the nearest answers");
  t.equal(first.reason, "nearest");
  t.equal(first.url, `http://127.0.0.1:${berlin.addresses.playback}/live/${name}.flv`);
  t.ok(first.distanceKm < 5, `client ${first.distanceKm} km from ber-1`);

  await stop(berlin.child);
  const moved = await waitFor("clients to move off the stopped edge", async () => (await route()).edge !== "ber-1", 10_000);
  const after = await route();
  t.equal(after.edge, "par-1", "the next nearest takes over");
  t.equal(after.reason, "nearest", "the nearest usable edge");
  const bound = FALL * INTERVAL_MS + TIMEOUT_MS;
  t.comment(`moved ${moved} ms after the stop (fall × interval + timeout = ${bound} ms)`);
  t.ok(moved < bound + 2_000, "moved within fall × interval (+ a probe timeout and scheduling slack)");

  const up = await metricValue(router, 'bintu_edge_routing_edge_up{edge="ber-1"}');
  t.equal(up, 0, "its health gauge shows it down");

  const back = await spawnEdge(t, { EDGE_API_PORT: String(berlin.addresses.api) });
  t.equal(back.addresses.api, berlin.addresses.api, "started again on the same port");
  const returned = await waitFor("new clients to return", async () => (await route()).edge === "ber-1", 10_000);
  t.comment(`returned ${returned} ms after the restart (rise × interval = ${RISE * INTERVAL_MS} ms)`);
  t.equal(await metricValue(router, 'bintu_edge_routing_edge_up{edge="ber-1"}'), 1);
  await Promise.all([stop(back.child), stop(paris.child), stop(newYork.child)]);
  const none = await waitFor(
    "every edge down",
    async () => {
      client++;
      const res = await router.api(`/v1/route?stream=${name}`, { key: null, headers: { "x-forwarded-for": `10.1.9.${client & 255}` } });
      return res.status === 503;
    },
    10_000,
  );
  t.comment(`all down after ${none} ms`);
  const res = await router.api(`/v1/route?stream=${name}`, { key: null });
  t.same(await res.json(), { code: "EDGE_ERR_NO_EDGE", reason: "no eligible edge: no healthy edge with room and no routing.fallback" });
});

async function metricValue(edge: { api: (p: string, i?: { key?: string | null }) => Promise<Response> }, series: string): Promise<number | undefined> {
  const text = await (await edge.api("/metrics", { key: null })).text();
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
