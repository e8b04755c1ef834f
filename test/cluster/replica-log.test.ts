// The change log and the replica (src/cluster/change-log.ts, replica.ts) against a real
// redis-server: changes arrive in order and once, a gap loads the snapshot, an empty restart is
// seeded back under the same epoch with nothing lost, a frozen Redis refuses writes at the deadline
// and the replica catches up after it, and a cold start without Redis serves the persisted copy.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { RedisLink } from "../../src/cluster/redis.js";
import { ClusterUnavailableError, Replica } from "../../src/cluster/replica.js";
import { createLogger } from "../../src/log.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

const log = createLogger("silent");
const dir = mkdtempSync(join(tmpdir(), "bintu-edge-replica-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

type Tap = Pick<Test, "teardown">;

/** A replica on its own link, with a handler that records every apply of kind `x`. */
function replicaOf(t: Tap, url: string, name: string, extra: { file?: string } = {}) {
  const link = new RedisLink({ url, passwordFile: "", keyPrefix: "t:", commandTimeoutMs: 200, name, log, pingIntervalMs: 200 });
  const applied: [string, unknown][] = [];
  let snapshots = 0;
  const replica = new Replica({ link, log, commandTimeoutMs: 200, ...extra, events: { snapshot: () => snapshots++ } });
  replica.on("x", { apply: (id, value) => applied.push([id, value]) });
  replica.start();
  t.teardown(async () => {
    await replica.close();
    await link.close();
  });
  return { link, replica, applied, snapshots: () => snapshots };
}

const synced = (r: Replica) => waitFor("replica synced", () => r.status().connected, 5_000);

t.test("in order and once; a duplicate is skipped, a gap loads the snapshot", async (t) => {
  const redis = await startRedis(t);
  const a = replicaOf(t, redis.url, "a");
  const b = replicaOf(t, redis.url, "b");
  await synced(a.replica);
  await synced(b.replica);
  t.equal(a.replica.status().epoch, b.replica.status().epoch, "both edges follow one epoch");

  for (let i = 0; i < 50; i++) await a.replica.post(`x:${i % 10}`, { n: i });
  await a.replica.post("x:9", null);
  await waitFor("b applied all", () => b.replica.status().applied === 51, 3_000);
  t.same(
    b.applied.map(([, v]) => (v as { n: number } | null)?.n ?? null),
    [...Array.from({ length: 50 }, (_, i) => i), null],
    "b saw every change once, in commit order",
  );
  t.same(b.replica.entries("x"), a.replica.entries("x"), "both replicas hold the same records");
  t.equal(b.replica.get("x:9"), undefined, "a delete removed the record");

  // A duplicate (seq ≤ applied) changes nothing.
  const before = b.applied.length;
  await b.replica.receive([{ seq: 51, key: "x:1", value: { n: -1 }, t: Date.now() }]);
  t.equal(b.applied.length, before, "a seq already applied is skipped");
  t.same(b.replica.get("x:1"), { n: 41 }, "…and the record keeps its value");

  // A gap (seq > applied + 1): the log was trimmed past the replica → it loads the snapshot.
  await b.replica.close(); // stop b's tail so the trim happens behind it
  for (let i = 0; i < 5; i++) await a.replica.post(`x:gap${i}`, { n: 100 + i });
  await redis.command("XTRIM", "t:log", "MAXLEN", "0");
  const c = replicaOf(t, redis.url, "c");
  await synced(c.replica);
  const snapshotsBefore = c.snapshots();
  await a.replica.post("x:after", { n: 200 });
  await waitFor("c caught up", () => c.replica.status().applied === 57, 3_000);
  t.same(c.replica.entries("x"), a.replica.entries("x"), "the fresh replica has every record");
  // b's copy (applied 51) meets entries from 57 on: a gap.
  await b.replica.receive([{ seq: 57, key: "x:after", value: { n: 200 }, t: Date.now() }]);
  t.equal(b.replica.status().applied, 57, "after the gap b is at Redis's seq");
  t.same(b.replica.entries("x"), a.replica.entries("x"), "…with the snapshot's records, the trimmed ones included");
  t.ok(snapshotsBefore >= 1, "a replica that never joined loads the snapshot");
});

t.test("an empty restart is seeded back under the same epoch; a frozen Redis refuses writes, then catches up", async (t) => {
  const redis = await startRedis(t);
  const file = join(dir, "b.json");
  const a = replicaOf(t, redis.url, "a");
  const b = replicaOf(t, redis.url, "b", { file });
  await synced(a.replica);
  await synced(b.replica);
  const epoch = a.replica.status().epoch;
  for (let i = 0; i < 5; i++) await a.replica.post(`x:r${i}`, { n: i });
  await waitFor("b has 5", () => b.replica.status().applied === 5, 3_000);

  await redis.kill();
  await waitFor("both down", () => !a.replica.status().connected && !b.replica.status().connected, 3_000);
  await t.rejects(a.replica.post("x:down", { n: 0 }), ClusterUnavailableError, "a write while Redis is down is refused");
  t.same(b.replica.get("x:r3"), { n: 3 }, "records stay readable while Redis is down");
  await redis.restart();
  await synced(a.replica);
  await synced(b.replica);
  t.equal(a.replica.status().epoch, epoch, "the epoch survives the empty restart (seeded by an edge)");
  t.equal(b.replica.status().epoch, epoch, "…for both edges");
  t.match(await redis.command("HLEN", "t:state"), ":5\r\n", "Redis got the 5 records back from a replica");
  await b.replica.post("x:after", { n: 9 });
  await waitFor("a applied b's change", () => a.replica.get("x:after") !== undefined, 3_000);
  t.equal(a.replica.status().applied, b.replica.status().applied, "both at one seq");
  t.same(a.replica.entries("x"), b.replica.entries("x"), "nothing lost or duplicated");
  t.equal(a.applied.filter(([id]) => id === "after").length, 1, "the change after the restart was applied once");

  redis.freeze();
  const started = Date.now();
  await t.rejects(a.replica.post("x:frozen", { n: 0 }), ClusterUnavailableError, "a write to a frozen Redis is refused…");
  t.ok(Date.now() - started < 1_500, `…within the deadline (${Date.now() - started} ms)`);
  await waitFor("stale while frozen", () => b.replica.status().staleSeconds > 0.5, 3_000);
  t.same(b.replica.get("x:after"), { n: 9 }, "records stay readable while frozen");
  redis.thaw();
  await synced(a.replica);
  await synced(b.replica);
  await a.replica.post("x:thawed", { n: 10 });
  await waitFor("b caught up after the freeze", () => b.replica.get("x:thawed") !== undefined, 3_000);
  t.equal(b.replica.status().staleSeconds, 0, "not stale once connected");
  t.equal(a.applied.filter(([id]) => id === "frozen").length, 0, "the refused write never arrived");

  // Cold start without Redis: the persisted copy answers.
  await b.replica.close();
  await redis.kill();
  const cold = replicaOf(t, redis.url, "cold", { file });
  t.same(cold.replica.entries("x"), a.replica.entries("x"), "a cold start without Redis serves the persisted records");
  t.equal(cold.replica.status().connected, false, "…and says it is not connected");
  t.equal(cold.applied.length, a.replica.entries("x").length, "every persisted record was handed to the local store");
});
