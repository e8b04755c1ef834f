// Nobody but the accepted publisher writes into a live stream (issue 2 §4, issue 3 §4-5).
// node-media-server 4.4.3 broadcast media from any session on a path: a player, a refused or a
// duplicate publisher could replace the cached codec headers that every new viewer receives.
import t from "tap";
import { startEdge, type TestEdge } from "../helpers/edge.js";
import { RawRtmpClient, aacSequenceHeader, avcKeyframe, avcSequenceHeader, type RtmpMessage } from "../helpers/rtmp-client.js";
import { parsePrometheus, valueOf } from "../helpers/prometheus.js";
import { waitFor } from "../helpers/wait.js";

const VIDEO = 9;

async function connected(edge: TestEdge, opts?: { allowHalfOpen?: boolean }): Promise<RawRtmpClient> {
  const client = await RawRtmpClient.connect(edge.addresses.rtmp.port, "127.0.0.1", opts);
  await client.handshake();
  await client.connectApp("live");
  return client;
}

/** A raw publisher that sends the given picture size's sequence header and one keyframe. */
async function publisher(edge: TestEdge, name: string, width: number, height: number, opts?: { allowHalfOpen?: boolean }) {
  const client = await connected(edge, opts);
  const sid = await client.createStream();
  const status = await client.publish(sid, name);
  if (status.code === "NetStream.Publish.Start") {
    await client.sendAudio(sid, 0, aacSequenceHeader());
    await client.sendVideo(sid, 0, avcSequenceHeader(width, height));
    await client.sendVideo(sid, 40, avcKeyframe(2_000));
  }
  return { client, sid, status };
}

/** What a new viewer receives first: the video sequence header bytes. */
async function videoHeaderSeenByNewPlayer(edge: TestEdge, name: string): Promise<Buffer> {
  const player = await connected(edge);
  const sid = await player.createStream();
  const status = await player.play(sid, name);
  if (status.code !== "NetStream.Play.Start") throw new Error(`play: ${status.code}`);
  const header: RtmpMessage = await player.nextMessage((m) => m.type === VIDEO);
  player.destroy();
  return header.payload;
}

t.test("a second publisher on a live name is refused and cannot touch the stream", async (t) => {
  const edge = await startEdge(t);
  const { name } = await edge.createStream();
  const live = await publisher(edge, name, 640, 360);
  t.equal(live.status.code, "NetStream.Publish.Start");
  const original = avcSequenceHeader(640, 360);
  await waitFor("header cached", async () => (await videoHeaderSeenByNewPlayer(edge, name)).equals(original));

  const intruder = await connected(edge);
  const sid = await intruder.createStream();
  const status = await intruder.publish(sid, name);
  t.equal(status.code, "NetStream.Publish.BadName", "duplicate publisher refused before Publish.Start");
  t.notOk(
    intruder.statuses().some((s) => s.code === "NetStream.Publish.Start"),
    "never told Publish.Start",
  );
  // It ignores the refusal and sends its own codec headers anyway.
  await intruder.sendVideo(sid, 0, avcSequenceHeader(320, 240));
  await intruder.sendVideo(sid, 40, avcKeyframe(1_000));
  await intruder.closed;

  t.ok((await videoHeaderSeenByNewPlayer(edge, name)).equals(original), "new viewers still get 640x360");
  live.client.destroy();
});

t.test("a player cannot inject media into the stream it watches", async (t) => {
  const edge = await startEdge(t);
  const { name } = await edge.createStream();
  const live = await publisher(edge, name, 640, 360);
  const original = avcSequenceHeader(640, 360);
  await waitFor("header cached", async () => (await videoHeaderSeenByNewPlayer(edge, name)).equals(original));

  const player = await connected(edge);
  const sid = await player.createStream();
  t.equal((await player.play(sid, name)).code, "NetStream.Play.Start");
  await player.sendVideo(sid, 0, avcSequenceHeader(320, 240));
  await player.sendVideo(sid, 40, avcKeyframe(1_000));
  await new Promise((r) => setTimeout(r, 100));
  t.ok((await videoHeaderSeenByNewPlayer(edge, name)).equals(original), "new viewers still get 640x360");
  player.destroy();
  live.client.destroy();
});

t.test("an undecided or refused publisher's media reaches no player", async (t) => {
  const edge = await startEdge(t);
  const { id, name } = await edge.createStream();
  await edge.api(`/stream/${id}/lock`, { method: "PUT" });
  const refused = await connected(edge);
  const sid = await refused.createStream();
  // Media right behind the publish command, before any answer: muted until decided, then dropped.
  const answer = refused.publish(sid, name);
  await refused.sendVideo(sid, 0, avcSequenceHeader(320, 240));
  await refused.sendVideo(sid, 40, avcKeyframe(50_000));
  t.equal((await answer).code, "NetStream.Publish.Unauthorized");
  await refused.closed;
  const metrics = parsePrometheus(await (await fetch(`http://127.0.0.1:${edge.addresses.api.port}/metrics`)).text());
  t.equal(valueOf(metrics, "bintu_edge_media_bytes_total", { direction: "out" }), 0, "nothing was relayed");
  t.equal((await fetch(edge.flvUrl(name))).status, 403, "and nothing is live");
});

t.test("a kicked publisher that ignores FIN is gone: nothing it sends afterwards is accepted", async (t) => {
  const edge = await startEdge(t);
  const { name } = await edge.createStream();
  const live = await publisher(edge, name, 640, 360, { allowHalfOpen: true });
  t.equal(live.status.code, "NetStream.Publish.Start");
  const bytesIn = async () =>
    valueOf(parsePrometheus(await (await fetch(`http://127.0.0.1:${edge.addresses.api.port}/metrics`)).text()), "bintu_edge_media_bytes_total", {
      direction: "in",
    });

  const sessions = (await (await edge.api("/v1/sessions")).json()) as { id: string }[];
  t.equal((await edge.api(`/v1/sessions/${sessions[0].id}`, { method: "DELETE" })).status, 204);
  const afterKick = await bytesIn();
  // Keep publishing as a client that ignores the server's close would.
  let accepted = 0;
  for (let i = 0; i < 50; i++) if (await live.client.sendVideo(live.sid, 80 + i * 40, avcKeyframe(4_000))) accepted++;
  await live.client.closed;
  t.equal(await bytesIn(), afterKick, "inbound bytes after the kick = 0");
  t.ok(accepted < 50, `the socket is destroyed: ${accepted} of 50 writes went out before the reset`);
  t.equal(((await (await edge.api("/v1/sessions")).json()) as unknown[]).length, 0, "session removed");
});

t.test("a publisher reconnecting within NMS's 30 s grace window is validated again", async (t) => {
  const edge = await startEdge(t);
  const { id, name } = await edge.createStream();
  const first = await publisher(edge, name, 640, 360);
  t.equal(first.status.code, "NetStream.Publish.Start");
  first.client.destroy();
  await waitFor("ended", async () => ((await (await edge.api(`/stream/${id}`)).json()) as { state: string }).state === "ended");
  await edge.api(`/stream/${id}/lock`, { method: "PUT" });
  const again = await publisher(edge, name, 640, 360);
  t.equal(again.status.code, "NetStream.Publish.Unauthorized", "same IP, same key, within 30 s: refused once locked");
  await edge.api(`/stream/${id}/unlock`, { method: "PUT" });
  const third = await publisher(edge, name, 320, 240);
  t.equal(third.status.code, "NetStream.Publish.Start", "accepted again after unlock");
  t.ok((await videoHeaderSeenByNewPlayer(edge, name)).equals(avcSequenceHeader(320, 240)), "and its own headers are served");
  third.client.destroy();
});
