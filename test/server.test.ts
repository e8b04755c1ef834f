// createEdge lifecycle: start on port 0, readiness, close with live sessions, start again (issue 2 §7).
import t from "tap";
import { existsSync } from "node:fs";
import { loadConfig } from "../src/config/load.js";
import { createEdge } from "../src/server.js";
import { startEdge } from "./helpers/edge.js";
import { publish, play } from "./helpers/ffmpeg.js";
import { RawRtmpClient } from "./helpers/rtmp-client.js";
import { waitFor } from "./helpers/wait.js";

t.test("close() ends live publishers and players, and the edge can start again on the same data", async (t) => {
  const dataDir = t.testdir();
  for (let round = 0; round < 3; round++) {
    const config = loadConfig({
      env: {
        EDGE_DATA_DIR: dataDir,
        EDGE_RTMP_PORT: "0",
        EDGE_PLAYBACK_PORT: "0",
        EDGE_API_PORT: "0",
        EDGE_LOG_LEVEL: "silent",
        EDGE_RTMP_HOST: "127.0.0.1",
        EDGE_PLAYBACK_HOST: "127.0.0.1",
        EDGE_API_HOST: "127.0.0.1",
      },
    });
    const edge = createEdge(config);
    t.equal(edge.apiKeyCreated, round === 0, `round ${round}: key generated only the first time`);
    const { rtmp, playback, api } = await edge.start();
    for (const a of [rtmp, playback, api]) t.ok(a.port > 0, "port 0 became a real port");
    t.equal((await fetch(`http://127.0.0.1:${api.port}/readyz`)).status, 200, "ready once listening");

    const headers = { "X-BINTU-APIKEY": edge.apiKey, "content-type": "application/json" };
    const created: unknown = await (await fetch(`http://127.0.0.1:${api.port}/stream`, { method: "POST", headers, body: "{}" })).json();
    const name = (created as { ingest: { rtmp: { streamname: string } } }).ingest.rtmp.streamname;
    const encoder = publish(`rtmp://127.0.0.1:${rtmp.port}/live/${name}`, { seconds: 30 });
    await waitFor("live", async () => ((await (await fetch(`http://127.0.0.1:${api.port}/v1/sessions`, { headers })).json()) as unknown[]).length === 1);
    const player = play(`http://127.0.0.1:${playback.port}/live/${name}.flv`, { frames: 1_000_000, timeoutMs: 30_000 });
    await waitFor("player", async () => ((await (await fetch(`http://127.0.0.1:${api.port}/v1/sessions`, { headers })).json()) as unknown[]).length === 2);

    const closingAt = Date.now();
    await edge.close();
    const [pub, ply] = await Promise.all([encoder.exited, player.exited]);
    t.ok(Date.now() - closingAt < 5_000, "encoder and player saw the edge go within 5 s");
    t.not(pub.code, null, "the encoder was disconnected, not killed by the test");
    t.not(ply.code, null, "the player was disconnected, not killed by the test");
    await edge.close(); // idempotent
    await t.rejects(fetch(`http://127.0.0.1:${api.port}/healthz`), "the API port is closed");
  }
});

t.test("one edge per process: a second one is refused with a clear error", async (t) => {
  const first = await startEdge(t);
  t.throws(() => createEdge(first.config), { name: "EdgeStartError", message: /another edge is running in this process/ });
  t.equal((await fetch(`http://127.0.0.1:${first.addresses.api.port}/readyz`)).status, 200);
});

t.test("RTMP play of an unknown or not-live stream answers NetStream.Play.StreamNotFound", async (t) => {
  const edge = await startEdge(t);
  const { name } = await edge.createStream();
  for (const stream of ["NoSuch-Stream1", name]) {
    const c = await RawRtmpClient.connect(edge.addresses.rtmp.port);
    await c.handshake();
    await c.connectApp("live");
    t.equal((await c.play(await c.createStream(), stream)).code, "NetStream.Play.StreamNotFound", stream);
    await c.closed;
  }
});

t.test("a bad routing.edgesFile refuses start-up before anything is opened", async (t) => {
  const dir = t.testdir({ "edges.yaml": "edges:\n  - { id: a, region: eu, lat: 100, lon: 0, urls: {} }\n" });
  const config = loadConfig({ env: { EDGE_DATA_DIR: `${dir}/data`, EDGE_ROUTING_EDGES_FILE: `${dir}/edges.yaml` } });
  t.throws(() => createEdge(config), { name: "EdgeStartError", message: /^routing\.edgesFile: .*edges\.0\.lat: must be <= 90, got 100/ });
  t.notOk(existsSync(`${dir}/data`), "no data dir created");
  const next = await startEdge(t);
  t.ok(next.addresses.api.port > 0, "the process can still run an edge");
});
