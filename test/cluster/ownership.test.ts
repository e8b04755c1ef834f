// One publisher per stream key across the fleet (issue 12 §2, §3, §7) with real processes: a
// real redis-server, edge R in this process (the embedded registry every edge validates keys
// against) and edges B and C as child processes, ffmpeg as the encoder. The same key published on
// B then on C is refused on C; kill -9 of B frees the key within its 5 s TTL and C may publish;
// with Redis killed, local publish and play go on, two edges both take one key, and once Redis is
// back (empty) exactly one keeps it while the key held before the outage is re-established.
import { spawnSync } from "node:child_process";
import t from "tap";
import { startEdge, spawnEdge } from "../helpers/edge.js";
import { play, publish, type Run } from "../helpers/ffmpeg.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

type Session = { id: string; role: string; stream: string; owner?: string | null };

t.test("ownership, locator and a Redis outage across three edges", async (t) => {
  const redis = await startRedis(t);
  const fleet = (id: string) => ({
    EDGE_CLUSTER_REDIS_URL: redis.url,
    EDGE_CLUSTER_EDGE_ID: id,
    EDGE_CLUSTER_KEY_PREFIX: "own:",
    EDGE_PUBLIC_HOST: "127.0.0.1",
  });
  const r = await startEdge(t, fleet("r"));
  const remote = { EDGE_BINTU_MODE: "remote", EDGE_BINTU_URL: `http://127.0.0.1:${r.addresses.api.port}`, EDGE_BINTU_APIKEY: r.apiKey };
  const [b, c] = await Promise.all([spawnEdge(t, { ...remote, ...fleet("b") }), spawnEdge(t, { ...remote, ...fleet("c") })]);
  const edges = { r: r.addresses.api.port, b: b.addresses.api, c: c.addresses.api };
  const rtmp = { r: r.addresses.rtmp.port, b: b.addresses.rtmp, c: c.addresses.rtmp };
  const api = (edge: keyof typeof edges, path: string) => fetch(`http://127.0.0.1:${edges[edge]}${path}`, { headers: { "X-BINTU-APIKEY": r.apiKey } });
  const sessions = async (edge: keyof typeof edges) => (await (await api(edge, "/v1/sessions")).json()) as Session[];
  const publisherOf = async (edge: keyof typeof edges, name: string) => (await sessions(edge)).find((s) => s.role === "publisher" && s.stream === name);
  const locate = async (edge: keyof typeof edges, name: string) => (await (await api(edge, `/v1/locate?stream=${name}`)).json()) as Record<string, unknown>;
  const metric = async (edge: keyof typeof edges, line: RegExp) => line.exec(await (await api(edge, "/metrics")).text())?.[1];
  const owner = async (name: string) => {
    const raw = await redis.command("GET", `own:owner:live/${name}`);
    return /"edge":"([^"]+)"/.exec(raw)?.[1] ?? null;
  };
  const encoders: Run[] = [];
  const encode = (edge: keyof typeof rtmp, name: string) => {
    const run = publish(`rtmp://127.0.0.1:${rtmp[edge]}/live/${name}`, { seconds: 60, size: "160x120" });
    encoders.push(run);
    return run;
  };
  t.teardown(() => encoders.forEach((e) => e.child.kill("SIGKILL")));

  const { id, name } = await r.createStream();
  const bintuStream = async (query = "") => (await (await api("r", `/stream/${id}${query}`)).json()) as Record<string, unknown>;
  t.match((await bintuStream()).location, { at: "nowhere" }, "GET /stream/:id in a fleet: not live anywhere yet");
  encode("b", name);
  await waitFor("B publishing, its claim confirmed", async () => (await publisherOf("b", name))?.owner === "b", 15_000);
  t.equal(await owner(name), "b", "the owner record in Redis names B");
  await waitFor("C locates the stream on B", async () => (await locate("c", name)).edge === "b", 3_000);
  t.match(await locate("c", name), { at: "edge", edge: "b", urls: { rtmp: `rtmp://127.0.0.1:${rtmp.b}`, flv: `http://127.0.0.1:${b.addresses.playback}` } });
  t.match(await locate("b", name), { at: "here", edge: "b" }, "B: here");
  // Every edge learns of the claim on its own (pub/sub, else the next rescan): R's copy may come a moment after C's.
  await waitFor("R locates the stream on B", async () => (await locate("r", name)).edge === "b", 6_000);
  t.match(
    await bintuStream(),
    {
      playout: { flv: [{ url: `http://127.0.0.1:${r.addresses.playback.port}/live/${name}.flv` }] },
      location: { app: "live", at: "edge", edge: "b", urls: { rtmp: `rtmp://127.0.0.1:${rtmp.b}` } },
    },
    "GET /stream/:id on the registry's edge: its own playouts, and where the stream is live",
  );
  t.notOk("location" in (await bintuStream("?profile=player")), "…the anonymous player profile stays bintu's");

  const second = encode("c", name);
  const refused = await second.exited;
  t.not(refused.code, 0, "the same key on C is refused");
  t.equal(await publisherOf("c", name), undefined, "…and never became a publisher there");
  t.equal(await metric("c", /^bintu_edge_cluster_ownership_refusals_total\{stage="publish"\} (\d+)$/m), "1", "counted on C");
  const played = await play(`http://127.0.0.1:${c.addresses.playback}/live/${name}.flv`, { frames: 5, timeoutMs: 10_000 }).exited;
  t.equal(played.code, 0, "a play on C of a stream live on B is served: C pulls it from B (issue 13)");

  // kill -9 of the owner: nothing gives the key back, its TTL (5 s) frees it.
  b.child.kill("SIGKILL");
  const killed = Date.now();
  await waitFor("the key freed", async () => (await owner(name)) === null, 8_000);
  const freedMs = Date.now() - killed;
  t.ok(freedMs <= 5_500, `the owner key expired ${freedMs} ms after kill -9 (TTL 5 s)`);
  encode("c", name);
  await waitFor("C publishing the freed key", async () => (await publisherOf("c", name))?.owner === "c", 15_000);
  t.equal(await owner(name), "c");

  // Redis killed: local publish and play go on; a new key is taken on two edges at once.
  const { name: contested } = await r.createStream();
  await redis.kill();
  await waitFor("C sees Redis down", async () => (await metric("c", /^bintu_edge_cluster_connected (\d+)$/m)) === "0", 3_000);
  await waitFor("R sees Redis down", async () => (await metric("r", /^bintu_edge_cluster_connected (\d+)$/m)) === "0", 3_000);
  const duringOutage = await play(`http://127.0.0.1:${c.addresses.playback}/live/${name}.flv`, { frames: 5, timeoutMs: 15_000 }).exited;
  t.equal(duringOutage.code, 0, "a local play on C while Redis is down");
  const onC = encode("c", contested);
  const onR = encode("r", contested);
  await waitFor(
    "both edges took the contested key",
    async () => (await publisherOf("c", contested)) !== undefined && (await publisherOf("r", contested)) !== undefined,
    15_000,
  );
  t.equal((await publisherOf("c", contested))?.owner, null, "allowed without the fleet: no confirmed owner yet");

  await redis.restart();
  const back = Date.now();
  await waitFor(
    "exactly one edge keeps the contested key",
    async () => {
      const holders = [await publisherOf("c", contested), await publisherOf("r", contested)].filter((s) => s !== undefined);
      return holders.length === 1 && holders[0].owner !== null;
    },
    5_000,
  );
  const settledMs = Date.now() - back;
  const winner = (await publisherOf("c", contested)) ? "c" : "r";
  t.equal(await owner(contested), winner, `the winner (${winner}) holds the key in Redis (settled ${settledMs} ms after the restart)`);
  const loser = winner === "c" ? onR : onC;
  t.not((await loser.exited).code, 0, "the loser's encoder was cut");
  // A publish that ends gives its key back at once (compare-and-delete), not after the TTL.
  (winner === "c" ? onC : onR).child.kill("SIGKILL");
  const ended = Date.now();
  await waitFor("the ended publish's key released", async () => (await owner(contested)) === null, 3_000);
  t.ok(Date.now() - ended < 2_000, `released ${Date.now() - ended} ms after the encoder left (TTL 5 s)`);
  await waitFor("the key held before the outage is back in the empty Redis", async () => (await owner(name)) === "c", 3_000);
  t.ok((await publisherOf("c", name)) !== undefined, "C's publisher of the first key never stopped");
  t.equal(await metric(winner === "c" ? "r" : "c", /^bintu_edge_cluster_ownership_refusals_total\{stage="refresh"\} (\d+)$/m), "1", "the cut is counted");

  // The fleet's metric names pass promtool (test/metrics-promtool.test.ts checks a single edge's).
  await waitFor(
    "C counts R and itself in the registry again (B was killed)",
    async () => (await metric("c", /^bintu_edge_cluster_registry_edges (\d+)$/m)) === "2",
    3_000,
  );
  const text = await (await api("c", "/metrics")).text();
  const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 20_000 });
  t.equal(lint.error, undefined, "promtool runs");
  t.same(
    (lint.stdout + lint.stderr).split("\n").filter((l) => l.startsWith("bintu_edge_cluster")),
    [],
    "promtool: no finding on a bintu_edge_cluster_* name",
  );
});
