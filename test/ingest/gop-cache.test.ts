// playback.maxGopCacheBytes (issue 3 hardening, now a config key): the bound reaches the stream's
// broadcast, a real encoder's GOP fills the default cache, and past a small bound the cache stays
// empty (players join at the next keyframe) while playback still works.
import t from "tap";
import { nms } from "../../src/ingest/nms.js";
import { startEdge } from "../helpers/edge.js";
import { play, publish } from "../helpers/ffmpeg.js";
import { waitFor } from "../helpers/wait.js";

for (const [label, bound] of [
  ["default 64 MiB", undefined],
  ["1 KiB", 1024],
] as const) {
  t.test(`GOP cache with ${label}`, async (t) => {
    const edge = await startEdge(t, bound === undefined ? {} : { EDGE_PLAYBACK_MAX_GOP_CACHE_BYTES: String(bound) });
    const { name } = await edge.createStream();
    const encoder = publish(edge.rtmpUrl(name), { seconds: 20 });
    t.teardown(() => void encoder.child.kill("SIGKILL"));
    await waitFor("the broadcast", () => nms.broadcastOf(`/live/${name}`)?.publisher != null, 15_000);
    const broadcast = nms.broadcastOf(`/live/${name}`)!;
    t.equal(broadcast.maxGopCacheBytes, bound ?? 64 * 1024 * 1024, "the configured bound reached the stream");
    // Sample the cache over two GOPs (the test encoder sends a keyframe every second).
    let largest = 0;
    const start = Date.now();
    while (Date.now() - start < 2_500) {
      largest = Math.max(largest, broadcast.flvGopCache?.size ?? 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (bound === undefined) t.ok(largest > 10, `a GOP is cached (up to ${largest} tags)`);
    else t.equal(largest, 0, "over the bound the cache stays empty");
    const player = await play(edge.flvUrl(name), { frames: 10 }).exited;
    t.equal(player.code, 0, `a new player still decodes frames ${player.stderr}`);
  });
}
