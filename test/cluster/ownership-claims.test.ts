// StreamOwnership (src/cluster/ownership.ts) in this process: two "edges" (each its own RedisLink)
// against a real redis-server, session tables stood in by maps. The cases the process-level test
// (ownership.test.ts) cannot aim at: a busy answer from Redis itself (not from the replica), this
// edge's own stale record, compare-and-delete, a claim whose session never shows up, a key lost
// from Redis, owners learnt by the rescan alone, and a claim taken while Redis was frozen that
// loses to another edge.
import t from "tap";
import { StreamOwnership } from "../../src/cluster/ownership.js";
import { RedisLink } from "../../src/cluster/redis.js";
import type { ErrorCode } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

const log = createLogger("silent");

t.test("claims, releases, refreshes and the locator", async (t) => {
  const redis = await startRedis(t);
  const live = new Set(["a", "b"]);
  const edge = (id: string) => {
    const link = new RedisLink({ url: redis.url, passwordFile: "", keyPrefix: "t:", commandTimeoutMs: 150, name: id, log, pingIntervalMs: 100 });
    const running = new Map<string, { end(code: ErrorCode): void }>();
    const ended: ErrorCode[] = [];
    const start = (session: string) => running.set(session, { end: (code) => (ended.push(code), running.delete(session)) });
    let lost = 0;
    const ownership = new StreamOwnership({
      link,
      edgeId: id,
      urls: () => ({ rtmp: `rtmp://${id}.example:1935` }),
      sessions: { get: (s) => running.get(s), locate: () => ({ at: "nowhere" }) },
      liveEdges: () => live,
      log,
      refreshMs: 100,
      rescanMs: 300,
      showUpMs: 300,
      onLost: () => lost++,
    });
    t.teardown(async () => {
      await ownership.close();
      await link.close();
    });
    return { link, ownership, start, ended, lost: () => lost };
  };
  const a = edge("a");
  const b = edge("b");
  await waitFor("both links up", () => a.link.up() && b.link.up(), 3_000);
  const owner = async (name: string) => /"edge":"([^"]+)","session":"([^"]+)"/.exec(await redis.command("GET", `t:owner:live/${name}`))?.slice(1, 3) ?? null;

  a.start("s1");
  t.equal(await a.ownership.claim("live", "k1", "s1"), "ok");
  t.equal(await b.ownership.claim("live", "k1", "x1"), "busy", "busy from Redis itself");
  t.same(await owner("k1"), ["a", "s1"]);
  await waitFor("b locates k1 on a", () => b.ownership.locate("live", "k1").at === "edge");
  t.same(b.ownership.locate("live", "k1"), { at: "edge", edge: "a", urls: { rtmp: "rtmp://a.example:1935" } }, "with a's URLs");
  live.delete("a");
  t.same(b.ownership.locate("live", "k1"), { at: "nowhere" }, "an owner on an edge that left the registry is not believed");
  live.add("a");
  t.ok(a.ownership.holds("live", "k1", "s1"));

  b.ownership.release("live", "k1", "s1");
  await new Promise((r) => setTimeout(r, 200));
  t.same(await owner("k1"), ["a", "s1"], "another edge's release deletes nothing (compare-and-delete)");
  a.ownership.release("live", "k1", "s1");
  await waitFor("k1 released", async () => (await owner("k1")) === null, 2_000);
  await waitFor("b learns of the release", () => b.ownership.locate("live", "k1").at === "nowhere", 2_000);

  // This edge's own record of a session that is gone (a fast reconnect): taken over; of a live one: busy.
  t.equal(await a.ownership.claim("live", "k2", "old"), "ok");
  a.start("new");
  t.equal(await a.ownership.claim("live", "k2", "new"), "ok", "the stale own record is replaced");
  t.same(await owner("k2"), ["a", "new"]);
  t.equal(await a.ownership.claim("live", "k2", "third"), "busy", "a live own session is not replaced");

  // A claim whose session never shows up is given back; a key lost from Redis is set again while live.
  t.equal(await a.ownership.claim("live", "k3", "never"), "ok");
  await waitFor("the claim of a session that never showed up is released", async () => (await owner("k3")) === null, 2_000);
  await redis.command("DEL", "t:owner:live/k2");
  await waitFor("the lost key of a live session is set again", async () => (await owner("k2"))?.[1] === "new", 2_000);

  // Learnt by the rescan alone: no pub/sub message for a key written behind the fleet's back.
  await redis.command("SET", "t:owner:live/k4", JSON.stringify({ edge: "b", session: "z", urls: {}, since: 1 }), "PX", "60000");
  await waitFor("a learns k4 by rescanning", () => a.ownership.locate("live", "k4").at === "edge", 2_000);

  // Frozen Redis: the claim is allowed at once; once Redis answers, the edge that holds the key wins.
  await redis.command("SET", "t:owner:live/k5", JSON.stringify({ edge: "b", session: "y", urls: {}, since: 1 }), "PX", "60000");
  redis.freeze();
  await waitFor("a sees Redis down", () => !a.link.up(), 2_000);
  a.start("s5");
  const asked = Date.now();
  t.equal(await a.ownership.claim("live", "k5", "s5"), "unavailable");
  t.ok(Date.now() - asked < 50, "…without waiting on Redis");
  t.notOk(a.ownership.holds("live", "k5", "s5"), "not confirmed while Redis is down");
  redis.thaw();
  await waitFor("the local publisher of a key held elsewhere is ended", () => a.ended.includes("EDGE_ERR_STREAM_BUSY"), 3_000);
  t.equal(a.lost(), 1);
  t.same(await owner("k5"), ["b", "y"], "the holder keeps its key");
});
