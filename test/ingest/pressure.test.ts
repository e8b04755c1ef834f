// Clients that hold resources without using them — slowloris sockets, players that stop reading,
// thousands of short publishes — are bounded by the edge's timers and limits (issue 3).
import { readdirSync } from "node:fs";
import net from "node:net";
import t from "tap";
import { startEdge } from "../helpers/edge.js";
import { probe, publish } from "../helpers/ffmpeg.js";
import { parsePrometheus, valueOf } from "../helpers/prometheus.js";
import { RawRtmpClient, aacSequenceHeader, avcKeyframe, avcSequenceHeader } from "../helpers/rtmp-client.js";
import { waitFor } from "../helpers/wait.js";

const MiB = 1024 * 1024;
const metricsOf = async (port: number) => parsePrometheus(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());

t.test("slowloris: 500 sockets that send one byte and stall are closed while a good publisher streams", async (t) => {
  const edge = await startEdge(t, {
    EDGE_RTMP_LIMITS_HANDSHAKE_TIMEOUT_MS: "2000",
    EDGE_RTMP_LIMITS_MAX_CONNECTIONS_PER_IP: "1000",
  });
  const { name } = await edge.createStream();
  const encoder = publish(edge.rtmpUrl(name), { seconds: 5 });
  await waitFor("live", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 1);

  const openedAt = Date.now();
  const sockets = await Promise.all(
    Array.from(
      { length: 500 },
      () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect(edge.addresses.rtmp.port, "127.0.0.1", () => s.write(Buffer.from([3]), () => resolve(s)));
          s.on("error", () => {});
        }),
    ),
  );
  const closed = sockets.map((s) => new Promise<number>((r) => (s.destroyed ? r(Date.now()) : s.once("close", () => r(Date.now())))));
  const player = await probe(edge.flvUrl(name));
  t.equal(player.code, 0, "a player reads the stream during the attack");
  const closedAt = await Promise.all(closed);
  const slowest = Math.max(...closedAt) - openedAt;
  t.ok(slowest < 5_000, `all 500 closed by the handshake timer, the last after ${slowest} ms`);
  const metrics = await metricsOf(edge.addresses.api.port);
  t.equal(valueOf(metrics, "bintu_edge_connections_closed_total", { protocol: "rtmp", reason: "handshake_timeout" }), 500);
  t.equal((await encoder.exited).code, 0, "the good publisher streamed to its end undisturbed");
});

t.test("a player that stops reading is dropped; a reading player keeps playing", async (t) => {
  const edge = await startEdge(t, { EDGE_PLAYBACK_MAX_PENDING_BYTES: String(1 * MiB) });
  const { name } = await edge.createStream();
  const pub = await RawRtmpClient.connect(edge.addresses.rtmp.port, "127.0.0.1", { queueMedia: false });
  await pub.handshake();
  await pub.connectApp("live");
  const sid = await pub.createStream();
  t.equal((await pub.publish(sid, name)).code, "NetStream.Publish.Start");
  await pub.sendAudio(sid, 0, aacSequenceHeader());
  await pub.sendVideo(sid, 0, avcSequenceHeader(640, 360));

  // Two HTTP-FLV players on raw sockets: one paused (its unsent bytes pile up at the edge), one reading.
  const player = (paused: boolean) => {
    const s = net.connect(edge.addresses.playback.port, "127.0.0.1");
    s.write(`GET /live/${name}.flv HTTP/1.1\r\nHost: x\r\n\r\n`);
    s.on("error", () => {});
    if (paused) s.pause();
    return s;
  };
  const stalled = player(true);
  const reader = player(false);
  let read = 0;
  reader.on("data", (d: Buffer) => (read += d.length));
  t.teardown(() => [stalled, reader].forEach((s) => s.destroy()));
  await waitFor("two players", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 3);

  // Push far more than socket buffers hold: 400 keyframes of 100 KB (40 MB) at ~160 Mbit/s, a pace
  // the reading player keeps up with.
  const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
  let peak = 0;
  for (let i = 0; i < 400; i++) {
    await pub.sendVideo(sid, 40 * (i + 1), avcKeyframe(100_000));
    await new Promise((r) => setTimeout(r, 5));
    if (i % 20 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers - arrayBuffersBefore);
  }
  const slowDrops = async () =>
    valueOf(await metricsOf(edge.addresses.api.port), "bintu_edge_connections_closed_total", { protocol: "flv", reason: "slow_consumer" });
  await waitFor("the stalled player dropped", async () => (await slowDrops()) === 1);
  t.pass("the stalled player was dropped as slow_consumer");
  t.ok(peak < 64 * MiB, `edge memory stayed bounded: arrayBuffers grew at most ${(peak / MiB).toFixed(1)} MiB while 40 MB went out`);
  await waitFor("the reader got the stream", () => read > 30_000_000, 20_000);
  t.pass(`the reading player received ${(read / MiB).toFixed(1)} MiB`);
  const sessions = (await (await edge.api("/v1/sessions")).json()) as { role: string }[];
  t.equal(sessions.filter((s) => s.role === "player").length, 1, "the reading player is still attached");
  t.equal(await slowDrops(), 1, "and was never dropped");
  pub.destroy();
});

t.test("soak: 2,000 connect → publish → disconnect cycles leave nothing behind", async (t) => {
  const edge = await startEdge(t);
  const names = await Promise.all(Array.from({ length: 20 }, () => edge.createStream().then((s) => s.name)));
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on("warning", onWarning);
  t.teardown(() => process.off("warning", onWarning));
  const fds = () => readdirSync("/proc/self/fd").length;
  const baseline = fds();

  let accepted = 0;
  for (let i = 0; i < 2_000; i++) {
    const c = await RawRtmpClient.connect(edge.addresses.rtmp.port);
    await c.handshake();
    await c.connectApp("live");
    if ((await c.publish(await c.createStream(), names[i % names.length])).code === "NetStream.Publish.Start") accepted++;
    c.destroy();
  }
  t.equal(accepted, 2_000, "every cycle was accepted");
  await waitFor("sessions drained", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 0);
  const { nms } = await import("../../src/ingest/nms.js");
  await waitFor("broadcasts drained", () => nms.broadcastCount() === 0);
  await waitFor("fds back to baseline", () => Math.abs(fds() - baseline) <= 2);
  t.same(warnings, [], "no MaxListeners or other process warnings");
  const metrics = await metricsOf(edge.addresses.api.port);
  t.equal(valueOf(metrics, "bintu_edge_sessions", { role: "publisher", protocol: "rtmp" }), 0);
});
