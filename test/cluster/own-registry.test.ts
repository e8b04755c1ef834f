// The fleet's edge registry (issue 12 §4) with real processes: a real redis-server, three edges
// as child processes announcing themselves (Berlin, Paris, New York), and a router in this process
// with no configured edges. Its /v1/route chooses among the announced edges with the URLs they
// announced; a drain set through another edge's API reaches it; a killed edge leaves every answer
// within 3 s; with Redis gone, drain answers 503 EDGE_ERR_CLUSTER_UNAVAILABLE and routing goes on.
import t from "tap";
import { startEdge, spawnEdge } from "../helpers/edge.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

type Answer = { edge: string; url: string; reason: string; alternatives: { edge: string }[] };

const KEY = "own-registry-test-key-0123456789";

t.test("routers choose among announced edges; drain and departures reach them", async (t) => {
  const redis = await startRedis(t);
  const fleet = (id: string, region: string, lat: number, lon: number) => ({
    EDGE_CLUSTER_REDIS_URL: redis.url,
    EDGE_CLUSTER_EDGE_ID: id,
    EDGE_CLUSTER_ANNOUNCE_REGION: region,
    EDGE_CLUSTER_ANNOUNCE_LAT: String(lat),
    EDGE_CLUSTER_ANNOUNCE_LON: String(lon),
    EDGE_CLUSTER_ANNOUNCE_CAPACITY_SESSIONS: "100",
    EDGE_PUBLIC_HOST: "127.0.0.1",
    EDGE_BINTU_APIKEY: KEY,
  });
  const [ber, , nyc] = await Promise.all([
    spawnEdge(t, fleet("ber-1", "eu-central", 52.5, 13.4)),
    spawnEdge(t, fleet("par-1", "eu-west", 48.85, 2.35)),
    spawnEdge(t, fleet("nyc-1", "us-east", 40.71, -74.0)),
  ]);
  // The router is a fleet member too (it announces itself), placed far from the client.
  const router = await startEdge(t, {
    ...fleet("router", "nz", -45, 170),
    EDGE_ROUTING_STICKY_TTL_MS: "0",
    EDGE_GEO_OVERRIDES: JSON.stringify([{ cidr: "127.0.0.0/8", lat: 52.52, lon: 13.4, country: "DE" }]),
  });
  const route = async () => {
    const res = await router.api("/v1/route?stream=s1", { key: null });
    return res.status === 200 ? ((await res.json()) as Answer) : null;
  };
  const all = (a: Answer | null) => (a ? [a.edge, ...a.alternatives.map((x) => x.edge)] : []);

  await waitFor("the three edges announced", async () => (await route())?.alternatives.length === 2, 5_000);
  const first = await route();
  t.match(
    first,
    { edge: "ber-1", reason: "nearest", url: `http://127.0.0.1:${ber.addresses.playback}/live/s1.flv` },
    "the nearest announced edge, at its announced URL",
  );
  t.same(all(first), ["ber-1", "par-1", "nyc-1"], "ordered by distance");
  const metrics = await (await router.api("/metrics")).text();
  t.match(metrics, /^bintu_edge_cluster_registry_edges 4$/m, "four edges in the registry (the router too)");
  // The gauge is the replica's: 1 once it has joined the change log, which may come a moment after start.
  await waitFor(
    "the router's replica joins the fleet",
    async () => /^bintu_edge_cluster_connected 1$/m.test(await (await router.api("/metrics")).text()),
    3_000,
  );
  t.match(metrics, /^bintu_edge_routing_edge_up\{edge="ber-1"\} 1$/m, "announced edges count as up without a probe");

  // Drain through another edge's API reaches the router with its next registry read.
  const drain = (on: string, id: string, body: unknown, key: string | null = KEY) =>
    fetch(`http://127.0.0.1:${on}/v1/cluster/edges/${id}/drain`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...(key ? { "X-BINTU-APIKEY": key } : {}) },
      body: JSON.stringify(body),
    });
  const nycApi = String(nyc.addresses.api);
  t.equal((await drain(nycApi, "ber-1", { drain: true }, null)).status, 401, "drain needs the admin key");
  t.equal((await drain(nycApi, "ber-1", { drain: "yes" })).status, 400, "…and a boolean");
  const set = await drain(nycApi, "ber-1", { drain: true });
  const drainedAt = Date.now();
  t.same(await set.json(), { edge: "ber-1", drain: true });
  await waitFor("the router stops choosing the drained edge", async () => (await route())?.edge === "par-1", 3_000);
  const drainMs = Date.now() - drainedAt;
  t.ok(drainMs <= 1_500, `drain reached the router in ${drainMs} ms`);
  t.notOk(all(await route()).includes("ber-1"), "a drained edge is in no answer");
  await drain(nycApi, "ber-1", { drain: false });
  await waitFor("undrained", async () => (await route())?.edge === "ber-1", 3_000);

  // kill -9: the edge stops announcing and leaves every answer within 3 s of its last announcement.
  ber.child.kill("SIGKILL");
  const killed = Date.now();
  await waitFor("the killed edge left every answer", async () => !all(await route()).includes("ber-1"), 5_000);
  const goneMs = Date.now() - killed;
  t.ok(goneMs <= 3_500, `a killed edge left the answers ${goneMs} ms after kill -9`);
  t.equal((await route())?.edge, "par-1");

  // Redis gone: drain cannot reach the fleet (503, at once); routing answers from the last table.
  t.equal((await drain(nycApi, "nyc-1", { drain: true })).status, 200, "nyc-1 drained before the outage");
  await waitFor("the router sees nyc-1 drained", async () => !all(await route()).includes("nyc-1"), 3_000);
  await redis.kill();
  await waitFor("router sees Redis down", async () => /^bintu_edge_cluster_connected 0$/m.test(await (await router.api("/metrics")).text()), 3_000);
  const started = Date.now();
  const refused = await drain(String(router.addresses.api.port), "par-1", { drain: true });
  t.equal(refused.status, 503);
  t.match(await refused.json(), { code: "EDGE_ERR_CLUSTER_UNAVAILABLE" });
  t.ok(Date.now() - started < 1_000, "…without waiting");
  const during = await route();
  t.equal(during?.edge, "par-1", "routing goes on with the last known edges (probed while Redis is down)");

  // Redis back empty: the edges announce again, and the drain flag they saw comes back with them.
  await redis.restart();
  // Every edge that saw the flag puts it back once it announces into the new, empty Redis.
  const seeded = await waitFor(
    "the drain flag is put back into the empty Redis",
    async () => (await redis.command("EXISTS", "bintu-edge:drain:nyc-1")) === ":1\r\n",
    3_000,
  );
  t.ok(seeded <= 3_000, `the drain flag was back ${seeded} ms after the restart`);
  // The router reads the registry again within 0.5 s of its next PING; par-1 may announce after nyc-1.
  await waitFor("the router reads the registry again", async () => (await route())?.edge === "par-1", 3_000);
  t.notOk(all(await route()).includes("nyc-1"), "the drained edge stays out of every answer");
});
