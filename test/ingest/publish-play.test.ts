// End to end with a real encoder: ffmpeg publishes to the edge with a key from the embedded
// registry, ffprobe/ffmpeg play it back over HTTP-FLV and RTMP (issue 2).
import net from "node:net";
import t from "tap";
import { publish, probe, play } from "../helpers/ffmpeg.js";
import { startEdge, type TestEdge } from "../helpers/edge.js";
import { waitFor } from "../helpers/wait.js";

async function stateOf(edge: TestEdge, id: string): Promise<string> {
  const res = await edge.api(`/stream/${id}`);
  return ((await res.json()) as { state: string }).state;
}

function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let response = "";
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
    socket.on("data", (d) => (response += d.toString()));
    socket.on("end", () => resolve(response));
    socket.on("error", reject);
  });
}

t.test("a valid key publishes; players read it over HTTP-FLV and RTMP; state goes created → live → ended", async (t) => {
  const edge = await startEdge(t, { EDGE_PLAYBACK_END_GRACE_MS: "300" });
  const { id, name } = await edge.createStream(["demo"]);
  t.equal(await stateOf(edge, id), "created");

  const encoder = publish(edge.rtmpUrl(name), { seconds: 6, size: "320x240" });
  await waitFor("live", async () => (await stateOf(edge, id)) === "live");

  const flv = await probe(edge.flvUrl(name));
  t.equal(flv.code, 0, `ffprobe over HTTP-FLV: ${flv.stderr}`);
  t.same(flv.streams.map((s) => s.codec_name).sort(), ["aac", "h264"]);
  t.match(
    flv.streams.find((s) => s.codec_type === "video"),
    { width: 320, height: 240 },
  );

  const rtmp = await probe(edge.rtmpUrl(name));
  t.equal(rtmp.code, 0, `ffprobe over RTMP: ${rtmp.stderr}`);
  t.same(rtmp.streams.map((s) => s.codec_name).sort(), ["aac", "h264"]);

  const player = play(edge.flvUrl(name), { frames: 50 });
  t.equal((await player.exited).code, 0, "an HTTP-FLV player decodes 50 frames");

  // A player that stays attached is closed after playback.endGraceMs once the publisher leaves.
  const lingering = play(edge.flvUrl(name), { frames: 100_000, timeoutMs: 30_000 });
  const published = await encoder.exited;
  t.equal(published.code, 0, `encoder finished cleanly: ${published.stderr}`);
  const endedAfter = await waitFor("ended", async () => (await stateOf(edge, id)) === "ended", 2_000);
  t.ok(endedAfter < 2_000, `state ended ${endedAfter} ms after the publisher left`);
  const lingered = await lingering.exited;
  t.not(lingered.code, null, "the waiting player was closed, not killed by the test timeout");
  const sessions = (await (await edge.api("/v1/sessions")).json()) as unknown[];
  t.equal(sessions.length, 0, "session table is empty");
});

t.test("refusals: unknown and locked keys, with the encoder told why", async (t) => {
  const edge = await startEdge(t);
  const unknown = await publish(edge.rtmpUrl("NoSuch-Stream1"), { seconds: 3 }).exited;
  t.not(unknown.code, 0, "ffmpeg fails on an unknown key");
  t.match(unknown.stderr, /no such stream/, "ffmpeg prints the edge's reason");

  const { id, name } = await edge.createStream();
  t.equal((await edge.api(`/stream/${id}/lock`, { method: "PUT" })).status, 200);
  const locked = await publish(edge.rtmpUrl(name), { seconds: 3 }).exited;
  t.not(locked.code, 0, "ffmpeg fails on a locked key");
  t.match(locked.stderr, /stream is locked/);
  t.equal(await stateOf(edge, id), "locked", "a refused publish does not change the state");

  const flv = await fetch(edge.flvUrl(name));
  t.equal(flv.status, 403);
  t.same(await flv.json(), { code: "EDGE_ERR_STREAM_LOCKED", reason: "stream is locked" });
});

t.test("locking a live stream kicks its publisher within 1 s and refuses its reconnect", async (t) => {
  const edge = await startEdge(t);
  const { id, name } = await edge.createStream();
  const encoder = publish(edge.rtmpUrl(name), { seconds: 20 });
  await waitFor("live", async () => (await stateOf(edge, id)) === "live");
  const lockedAt = Date.now();
  t.equal((await edge.api(`/stream/${id}/lock`, { method: "PUT" })).status, 200);
  const result = await encoder.exited;
  const tookMs = Date.now() - lockedAt;
  t.not(result.code, 0, "the encoder saw its connection end");
  t.ok(tookMs < 1_000, `publisher gone ${tookMs} ms after the lock`);
  const sessions = (await (await edge.api("/v1/sessions")).json()) as unknown[];
  t.equal(sessions.length, 0);
  const retry = await publish(edge.rtmpUrl(name), { seconds: 2 }).exited;
  t.not(retry.code, 0, "the encoder's reconnect is refused");
});

t.test("an operator kicks a session with DELETE /v1/sessions/:id", async (t) => {
  const edge = await startEdge(t);
  const { id, name } = await edge.createStream();
  const encoder = publish(edge.rtmpUrl(name), { seconds: 20 });
  await waitFor("live", async () => (await stateOf(edge, id)) === "live");
  const sessions = (await (await edge.api("/v1/sessions")).json()) as { id: string; role: string; stream: string }[];
  t.equal(sessions.length, 1);
  t.match(sessions[0], { role: "publisher", stream: name });
  t.equal((await edge.api(`/v1/sessions/${sessions[0].id}`, { method: "DELETE", key: null })).status, 401, "kicking needs the key");
  t.equal((await edge.api(`/v1/sessions/${sessions[0].id}`, { method: "DELETE" })).status, 204);
  t.not((await encoder.exited).code, 0);
  t.equal((await edge.api(`/v1/sessions/${sessions[0].id}`, { method: "DELETE" })).status, 404, "gone");
});

t.test("HTTP-FLV side: not live, malformed paths, other methods, WebSocket upgrades", async (t) => {
  const edge = await startEdge(t);
  const { name } = await edge.createStream();
  const base = `http://127.0.0.1:${edge.addresses.playback.port}`;
  const cases: [string, RequestInit, number, string][] = [
    [`/live/${name}.flv`, {}, 404, "EDGE_ERR_STREAM_NOT_LIVE"],
    ["/live/NoSuch-Stream1.flv", {}, 404, "EDGE_ERR_STREAM_UNKNOWN"],
    ["/live/a%2Eb.flv", {}, 400, "EDGE_ERR_BAD_NAME"],
    ["/live/a%00b.flv", {}, 400, "EDGE_ERR_BAD_NAME"],
    ["/li%2Fve/x.flv", {}, 404, "EDGE_ERR_BAD_APP"],
    ["/other/x.flv", {}, 404, "EDGE_ERR_BAD_APP"],
    ["/live/x.flv?a=1&a=2", {}, 400, "EDGE_ERR_BAD_QUERY"],
    ["/live/x.mp4", {}, 404, "EDGE_ERR_NOT_FOUND"],
    ["/", {}, 404, "EDGE_ERR_NOT_FOUND"],
    [`/live/${name}.flv`, { method: "POST", body: "FLV" }, 400, "EDGE_ERR_BAD_REQUEST"],
  ];
  for (const [path, init, status, code] of cases) {
    const res = await fetch(base + path, init);
    t.equal(res.status, status, `${init.method ?? "GET"} ${path}`);
    t.equal(((await res.json()) as { code: string }).code, code, path);
  }
  // fetch cannot send an upgrade: speak HTTP by hand, as a WebSocket client's first request.
  const upgrade = await rawHttp(
    edge.addresses.playback.port,
    `GET /live/${name}.flv HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: post\r\n\r\n",
  );
  t.match(upgrade, /^HTTP\/1.1 404 /, "WS-FLV (play or publish) is not served");
  t.equal((await fetch(`http://127.0.0.1:${edge.addresses.api.port}/healthz`)).status, 200, "edge still up");
});
