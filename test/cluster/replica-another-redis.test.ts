// "Another Redis" (issue 12 §7, the last row of the README's failure table): the fleet's Redis is
// replaced by one with a history of its own (another epoch) at the same address. Simulated on one
// real redis-server: its data is swapped for another log's (epoch, seq, snapshot) and every client
// connection is killed, as a replacement would drop them. Both replicas load the new snapshot, post
// back what they held and it lacks, and follow the new log from there.
import t from "tap";
import { RedisLink } from "../../src/cluster/redis.js";
import { Replica } from "../../src/cluster/replica.js";
import { createLogger } from "../../src/log.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

const log = createLogger("silent");

t.test("another Redis (another epoch): every replica loads its snapshot and posts back what it lacks", async (t) => {
  const redis = await startRedis(t);
  const replicaOf = (name: string) => {
    const link = new RedisLink({ url: redis.url, passwordFile: "", keyPrefix: "t:", commandTimeoutMs: 500, name, log });
    const replica = new Replica({ link, log, commandTimeoutMs: 500 });
    replica.on("x", { apply: () => {} });
    replica.start();
    t.teardown(async () => {
      await link.close();
      await replica.close();
    });
    return replica;
  };
  const [a, b] = [replicaOf("a"), replicaOf("b")];
  await waitFor("both joined", () => a.status().connected && b.status().connected, 5_000);
  for (let i = 0; i < 3; i++) await a.post(`x:ours${i}`, { n: i });
  await waitFor("b has a's changes", () => b.status().applied === 3, 2_000);

  // The replacement: another fleet's log, 7 changes in, one record of its own.
  await redis.command("FLUSHALL");
  await redis.command("MSET", "t:epoch", "another-epoch", "t:mark", "another-mark", "t:seq", "7");
  await redis.command("HSET", "t:state", "x:theirs", JSON.stringify({ seq: 7, v: { n: 100 } }));
  t.match(await redis.command("CLIENT", "KILL", "TYPE", "normal"), /^:[1-9]/, "every edge connection dropped");

  await waitFor("both follow the other epoch", () => a.status().epoch === "another-epoch" && b.status().epoch === "another-epoch", 3_000);
  await waitFor("both connected again", () => a.status().connected && b.status().connected, 3_000);
  await waitFor("Redis got our records back", async () => (await redis.command("HLEN", "t:state")) === ":4\r\n", 3_000);
  await waitFor(
    "both replicas hold the same four records",
    () => JSON.stringify(a.entries("x")) === JSON.stringify(b.entries("x")) && a.entries("x").length === 4,
    3_000,
  );
  t.same(a.get("x:theirs"), { n: 100 }, "the new Redis's record is loaded");
  t.same(
    [0, 1, 2].map((i) => b.get(`x:ours${i}`)),
    [{ n: 0 }, { n: 1 }, { n: 2 }],
    "ours are kept (and re-posted)",
  );
  t.ok(a.status().applied > 7, `the log continues past the new Redis's seq (at ${a.status().applied})`);

  await b.post("x:after", { n: 9 });
  await waitFor("a applied b's change", () => a.get("x:after") !== undefined, 2_000);
  t.equal(a.status().applied, b.status().applied, "both at one seq");
});
