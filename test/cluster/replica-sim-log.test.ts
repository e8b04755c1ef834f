// The 100-replica simulation (issue 12 "Part log"): 100 replicas in this process, each on its own
// RedisLink (its own three connections), against one real redis-server. Changes are posted from
// random replicas; every replica must apply every change once, in order, and end with the same
// records. Prints the propagation delay (commit → applied, over every replica) as p50 / p99 / max.
// The simulation itself is test/helpers/replica-sim.ts, which bench/cluster.ts runs too.
import t from "tap";
import { startRedis } from "../helpers/redis.js";
import { replicaSim } from "../helpers/replica-sim.js";

const REPLICAS = 100;
const CHANGES = 200;
const RATE_PER_SECOND = 40;

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

t.test(`${REPLICAS} replicas, ${CHANGES} changes from random ones: all applied everywhere, once, in order`, async (t) => {
  const redis = await startRedis(t);
  const sim = replicaSim({ url: redis.url, replicas: REPLICAS, changes: CHANGES, ratePerSecond: RATE_PER_SECOND });
  t.teardown(() => sim.close());
  const r = await sim.run();
  t.comment(`${REPLICAS} links (${REPLICAS * 3} clients) built in ${r.buildMs} ms, joined in ${r.joinMs} ms; ${CHANGES} changes posted in ${r.postMs} ms`);
  t.equal(r.epochs.size, 1, "one epoch");
  t.equal(new Set(r.seen.map((s) => s.join(","))).size, 1, "every replica applied the changes in one order");
  t.equal(r.seen[0].length, CHANGES, "…each change once");
  t.equal(new Set(r.records).size, 1, "every replica holds the same records");
  t.equal(r.delays.length, REPLICAS * CHANGES, "a delay for every change on every replica");
  const sorted = r.delays.sort((a, b) => a - b);
  const [p50, p99, max] = [quantile(sorted, 0.5), quantile(sorted, 0.99), sorted[sorted.length - 1]];
  t.comment(`propagation over ${sorted.length} applies: p50 ${p50} ms, p99 ${p99} ms, max ${max} ms`);
  t.ok(max < 1_000, `every change reached every replica within 1 s (max ${max} ms)`);
});
