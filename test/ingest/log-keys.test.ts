// The stream name is the publish key (bintu's model): anyone who reads it can publish. The log of a
// whole publish / play / refuse cycle, at info and above, must not contain it (issue 18 §4); at
// debug it may, which also shows the capture below sees the lines that would carry it.
import t from "tap";
import { createLogger } from "../../src/log.js";
import { play, probe, publish } from "../helpers/ffmpeg.js";
import { startEdge } from "../helpers/edge.js";
import { waitFor } from "../helpers/wait.js";

t.test("no publish key in the log at info and above", async (t) => {
  const lines: string[] = [];
  const edge = await startEdge(t, { EDGE_PLAYBACK_END_GRACE_MS: "300" }, { log: createLogger("debug", (l) => lines.push(l)) });
  const { id, name } = await edge.createStream(["demo"]);
  const live = async () => ((await (await edge.api(`/stream/${id}`)).json()) as { state: string }).state === "live";

  const encoder = publish(edge.rtmpUrl(name), { seconds: 5, size: "160x120" });
  await waitFor("live", live);
  t.equal((await probe(edge.flvUrl(name))).code, 0, "played over HTTP-FLV");
  t.equal((await probe(edge.rtmpUrl(name))).code, 0, "played over RTMP");
  const second = await publish(edge.rtmpUrl(name), { seconds: 1 }).exited;
  t.not(second.code, 0, "a second publisher of the key is refused");
  // A kicked player: the kick's close line names the session, not the stream.
  const player = play(edge.flvUrl(name), { frames: 100_000, timeoutMs: 20_000 });
  await waitFor("player listed", async () => ((await (await edge.api("/v1/sessions")).json()) as { role: string }[]).some((s) => s.role === "player"));
  const sessions = (await (await edge.api("/v1/sessions")).json()) as { id: string; role: string }[];
  await edge.api(`/v1/sessions/${sessions.find((s) => s.role === "player")!.id}`, { method: "DELETE" });
  await player.exited;
  t.equal((await encoder.exited).code, 0, "the publisher finished");
  // Refusals after the end: not live, a key one character off, a locked key.
  t.equal((await fetch(edge.flvUrl(name))).status, 404);
  t.equal((await fetch(edge.flvUrl(name.slice(0, -1) + (name.endsWith("x") ? "y" : "x")))).status, 404);
  t.equal((await edge.api(`/stream/${id}/lock`, { method: "PUT" })).status, 200);
  t.not((await publish(edge.rtmpUrl(name), { seconds: 1 }).exited).code, 0, "a locked key is refused");

  const secretLike = lines.filter((l) => !/^\S+ debug /.test(l) && l.includes(name));
  t.same(secretLike, [], "no info / warn / error line holds the key");
  t.ok(
    lines.some((l) => / info rtmp publisher started .*stream=ref:[0-9a-f]{12}/.test(l)),
    "info lines carry a reference to the stream",
  );
  t.ok(
    lines.some((l) => / debug /.test(l) && l.includes(name)),
    "the key is at debug (so the capture sees the lines that would hold it)",
  );
});
