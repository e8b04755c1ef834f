// The 100-replica simulation (issue 12 "Part log"): 100 replicas in this process, each on its own
// RedisLink (its own three connections), against one real redis-server. Changes are posted from
// random replicas; every replica must apply every change once, in order, and end with the same
// records. Prints the propagation delay (commit → applied, over every replica) as p50 / p99 / max.
import t from "tap";
import { RedisLink } from "../../src/cluster/redis.js";
import { Replica } from "../../src/cluster/replica.js";
import { createLogger } from "../../src/log.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

const REPLICAS = 100;
const CHANGES = 200;
const RATE_PER_SECOND = 40;
const log = createLogger("silent");

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

t.test(`${REPLICAS} replicas, ${CHANGES} changes from random ones: all applied everywhere, once, in order`, async (t) => {
  const redis = await startRedis(t);
  // Building a node-redis client costs tens of milliseconds of CPU: the 300 clients take a while.
  const creating = Date.now();
  const delays: number[] = [];
  // A generous deadline: this simulation measures propagation, not deadlines (test/cluster/fleet-log.test.ts
  // proves those). On a saturated CI machine a post can reach Redis late and be refused, rightly.
  const deadlineMs = 5_000;
  const replicas = Array.from({ length: REPLICAS }, (_, i) => {
    const link = new RedisLink({ url: redis.url, passwordFile: "", keyPrefix: "sim:", commandTimeoutMs: deadlineMs, name: `sim-${i}`, log });
    const seen: number[] = [];
    const replica = new Replica({ link, log, commandTimeoutMs: deadlineMs, events: { applied: (ms) => delays.push(ms) } });
    replica.on("x", { apply: (_id, value) => seen.push((value as { n: number }).n) });
    replica.start();
    return { link, replica, seen };
  });
  t.teardown(async () => {
    await Promise.all(replicas.map(({ link }) => link.close()));
    await Promise.all(replicas.map(({ replica }) => replica.close()));
  });
  t.comment(`${REPLICAS} links (${REPLICAS * 3} clients) built in ${Date.now() - creating} ms`);
  const joining = Date.now();
  await waitFor("every replica joined", () => replicas.every(({ replica }) => replica.status().connected), 15_000);
  t.comment(`${REPLICAS} replicas joined in ${Date.now() - joining} ms`);
  t.equal(new Set(replicas.map(({ replica }) => replica.status().epoch)).size, 1, "one epoch");

  const started = Date.now();
  const posts: Promise<void>[] = [];
  for (let n = 0; n < CHANGES; n++) {
    const from = replicas[Math.floor(Math.random() * REPLICAS)];
    posts.push(from.replica.post(`x:${n % 50}`, { n }));
    await new Promise((r) => setTimeout(r, 1000 / RATE_PER_SECOND));
  }
  await Promise.all(posts);
  await waitFor("every replica applied every change", () => replicas.every(({ replica }) => replica.status().applied === CHANGES), 5_000);
  t.comment(`posted ${CHANGES} changes in ${Date.now() - started} ms`);

  const orders = new Set(replicas.map(({ seen }) => seen.join(",")));
  t.equal(orders.size, 1, "every replica applied the changes in one order");
  t.equal(replicas[0].seen.length, CHANGES, "…each change once");
  const records = new Set(replicas.map(({ replica }) => JSON.stringify(replica.entries("x"))));
  t.equal(records.size, 1, "every replica holds the same records");
  t.equal(delays.length, REPLICAS * CHANGES, "a delay for every change on every replica");
  const sorted = delays.sort((a, b) => a - b);
  const [p50, p99, max] = [quantile(sorted, 0.5), quantile(sorted, 0.99), sorted[sorted.length - 1]];
  t.comment(`propagation over ${sorted.length} applies: p50 ${p50} ms, p99 ${p99} ms, max ${max} ms`);
  t.ok(max < 1_000, `every change reached every replica within 1 s (max ${max} ms)`);
});
