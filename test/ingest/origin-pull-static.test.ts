// Origin pull without Redis (issue 13 §4): edge B names edge A in `cluster.origins`, the two-tier
// set-up of SRS and nginx-rtmp. Both carry one shared `auth.keys` entry, so A verifies B's edge
// credential with no fleet to announce keys. A stream published on A plays on B; a stream live
// nowhere is refused on B at once (A answers 404), not at the start deadline; an edge whose pulls
// fail (an origin that does not answer, one that refuses its credential) counts them; an origin
// that sends a broken FLV stream costs the viewer the start deadline, and the pulling edge nothing.
import net from "node:net";
import t from "tap";
import { startEdge, spawnEdge } from "../helpers/edge.js";
import { parsePrometheus, valueOf } from "../helpers/prometheus.js";
import { probeFrames, publish } from "../helpers/ffmpeg.js";
import { flvReader } from "../helpers/flv-reader.js";
import { waitFor } from "../helpers/wait.js";

const keys = JSON.stringify([{ kid: "two-tier", alg: "HS256", secret: "two-tier-shared-secret-0123456789abcdef" }]);
const a = await startEdge(t, { EDGE_AUTH_KEYS: keys });
const b = await spawnEdge(t, {
  EDGE_AUTH_KEYS: keys,
  EDGE_BINTU_MODE: "remote",
  EDGE_BINTU_URL: `http://127.0.0.1:${a.addresses.api.port}`,
  EDGE_BINTU_APIKEY: a.apiKey,
  EDGE_CLUSTER_ORIGINS: `http://127.0.0.1:${a.addresses.playback.port}`,
  EDGE_CLUSTER_PULL_LINGER_MS: "0",
});
const flvOnB = (name: string) => `http://127.0.0.1:${b.addresses.playback}/live/${name}.flv`;
const relays = async () => ((await (await a.api("/v1/sessions")).json()) as { role: string; edge?: string }[]).filter((s) => s.role === "relay");

t.test("B pulls from its configured origin", async (t) => {
  const { name } = await a.createStream();
  const encoder = publish(a.rtmpUrl(name), { seconds: 60, size: "160x120" });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await waitFor("live on A", async () => ((await (await a.api("/v1/sessions")).json()) as unknown[]).length === 1, 15_000);
  const flv = await probeFrames(flvOnB(name), 10);
  t.equal(flv.frames, 10, `ffprobe read 10 video frames through B ${flv.stderr}`);
  const rtmp = await probeFrames(`rtmp://127.0.0.1:${b.addresses.rtmp}/live/${name}`, 10);
  t.equal(rtmp.frames, 10, `…and over RTMP ${rtmp.stderr}`);
  const viewer = flvReader(flvOnB(name));
  await waitFor("a viewer on B", () => viewer.videoTags > 0, 5_000);
  t.equal((await relays()).length, 1, "A serves one relay");
  viewer.stop();
  await waitFor("no linger (0): the pull ends with its last viewer", async () => (await relays()).length === 0, 2_000);
});

t.test("a stream live nowhere is refused on B as not live, without waiting for the start deadline", async (t) => {
  const { name } = await a.createStream();
  const asked = Date.now();
  const res = await fetch(flvOnB(name));
  t.equal(res.status, 404);
  t.equal(((await res.json()) as { code: string }).code, "EDGE_ERR_STREAM_NOT_LIVE");
  t.ok(Date.now() - asked < 2_000, `answered in ${Date.now() - asked} ms`);
});

t.test("failed pulls are counted: an origin that does not answer (error), one that refuses the credential (refused)", async (t) => {
  // A port that was free a moment ago: nothing answers there.
  const closed = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
  // C signs its pulls with a key A does not know: A answers 401.
  const c = await spawnEdge(t, {
    EDGE_AUTH_KEYS: JSON.stringify([{ kid: "foreign", alg: "HS256", secret: "a-key-edge-a-does-not-know-0123456789" }]),
    EDGE_BINTU_MODE: "remote",
    EDGE_BINTU_URL: `http://127.0.0.1:${a.addresses.api.port}`,
    EDGE_BINTU_APIKEY: a.apiKey,
    EDGE_CLUSTER_ORIGINS: `http://127.0.0.1:${closed},http://127.0.0.1:${a.addresses.playback.port}`,
    EDGE_CLUSTER_PULL_START_TIMEOUT_MS: "500",
  });
  const failures = async () => {
    const text = await (await fetch(`http://127.0.0.1:${c.addresses.api}/metrics`)).text();
    if (!/^# TYPE bintu_edge_origin_pull_failures_total counter$/m.test(text)) throw new Error("bintu_edge_origin_pull_failures_total is not exported");
    const samples = parsePrometheus(text);
    return {
      error: valueOf(samples, "bintu_edge_origin_pull_failures_total", { result: "error" }),
      refused: valueOf(samples, "bintu_edge_origin_pull_failures_total", { result: "refused" }),
    };
  };
  t.same(await failures(), { error: 0, refused: 0 }, "nothing counted before a pull");
  const { name } = await a.createStream();
  const res = await fetch(`http://127.0.0.1:${c.addresses.playback}/live/${name}.flv`);
  t.equal(res.status, 404, "the viewer is refused as not live at the start deadline");
  await res.body?.cancel();
  const counted = await failures();
  t.ok(counted.error >= 1, `the origin that does not answer: ${counted.error} error(s)`);
  t.ok(counted.refused >= 1, `the origin that refuses C's credential: ${counted.refused} refused`);
  // B's pulls in the tests above met only 200 and 404 (not here): no failure.
  const onB = parsePrometheus(await (await fetch(`http://127.0.0.1:${b.addresses.api}/metrics`)).text());
  t.equal(valueOf(onB, "bintu_edge_origin_pull_failures_total", { result: "refused" }), 0, "a 404 'not here' is not a failure");
  t.equal(valueOf(onB, "bintu_edge_origin_pull_failures_total", { result: "error" }), 0);
});

t.test("an origin that answers 200 with a broken FLV stream: the viewer is refused as not live, the edge stays up", async (t) => {
  // A broken origin: an FLV header, then a tag whose back-pointer does not match its size. The
  // pull's FLV parser refuses it, the pulling edge drops that upstream (the origin keeps its socket
  // open: the edge closes it) and retries, and the viewer gets the start deadline's refusal.
  const tag = Buffer.from([9, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0x17, 0, 0, 0, 0]); // video, 5 bytes of data
  const broken = Buffer.concat([Buffer.from("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00", "latin1"), tag, Buffer.from([0, 0, 0, 99])]);
  const origin = await new Promise<{ port: number; hits: () => number; close: () => void }>((resolve) => {
    let hits = 0;
    const server = net.createServer((socket) => {
      hits++;
      socket.on("error", () => {});
      socket.once("data", () => socket.write(Buffer.concat([Buffer.from("HTTP/1.1 200 OK\r\ncontent-type: video/x-flv\r\n\r\n"), broken])));
    });
    server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as net.AddressInfo).port, hits: () => hits, close: () => server.close() }));
  });
  t.teardown(origin.close);
  const d = await spawnEdge(t, {
    EDGE_AUTH_KEYS: keys,
    EDGE_BINTU_MODE: "remote",
    EDGE_BINTU_URL: `http://127.0.0.1:${a.addresses.api.port}`,
    EDGE_BINTU_APIKEY: a.apiKey,
    EDGE_CLUSTER_ORIGINS: `http://127.0.0.1:${origin.port}`,
    EDGE_CLUSTER_PULL_START_TIMEOUT_MS: "1000",
    EDGE_LOG_LEVEL: "info",
  });
  let log = "";
  d.child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const { name } = await a.createStream();
  const res = await fetch(`http://127.0.0.1:${d.addresses.playback}/live/${name}.flv`);
  t.equal(res.status, 404, "refused at the start deadline");
  t.equal(((await res.json()) as { code: string }).code, "EDGE_ERR_STREAM_NOT_LIVE");
  t.ok(origin.hits() >= 1, `the origin was asked (${origin.hits()} time(s))`);
  t.match(log, /origin pull upstream failed .*flv tag parser error/, "the parser's refusal ended that upstream");
  t.equal((await fetch(`http://127.0.0.1:${d.addresses.api}/healthz`)).status, 200, "the pulling edge is still up");
  const again = await fetch(`http://127.0.0.1:${d.addresses.playback}/live/${name}.flv`);
  t.equal(again.status, 404, "and answers the next viewer the same way");
  await again.body?.cancel();
});
