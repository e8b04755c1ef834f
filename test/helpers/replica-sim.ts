// The 100-replica simulation of issue 12 (one process, each replica on its own RedisLink — its own
// three connections — against one redis-server), shared by test/cluster/replica-sim-log.test.ts
// (which asserts order, once-only and equal records) and bench/cluster.ts (which reports the delays).
// Changes are posted from random replicas at a steady rate; every apply's commit → applied delay is kept.
import { RedisLink } from "../../src/cluster/redis.js";
import { Replica } from "../../src/cluster/replica.js";
import { createLogger } from "../../src/log.js";
import { waitFor } from "./wait.js";

export interface ReplicaSimOptions {
  url: string;
  replicas: number;
  changes: number;
  ratePerSecond: number;
  /** Key prefix (several simulations may share one Redis). */
  prefix?: string;
}

export interface ReplicaSimResult {
  /** Commit → applied, ms, one per change per replica. */
  delays: number[];
  /** The `n` of every applied change, in apply order, per replica. */
  seen: number[][];
  /** Each replica's `x` records, as JSON. */
  records: string[];
  epochs: Set<string | null>;
  buildMs: number;
  joinMs: number;
  postMs: number;
}

export interface ReplicaSim {
  run(): Promise<ReplicaSimResult>;
  close(): Promise<void>;
}

/** Builds the replicas (they start joining at once); run() waits for all to join, posts, waits for every apply. */
export function replicaSim(opts: ReplicaSimOptions): ReplicaSim {
  const log = createLogger("silent");
  // 300 clients in one process on a shared machine: a deadline an edge would not need, so that a
  // slow moment refuses no change (the simulation measures propagation, not the deadline).
  const commandTimeoutMs = 2_000;
  const delays: number[] = [];
  // Building a node-redis client costs tens of milliseconds of CPU: the 300 clients take a while.
  const building = Date.now();
  const replicas = Array.from({ length: opts.replicas }, (_, i) => {
    const link = new RedisLink({ url: opts.url, passwordFile: "", keyPrefix: opts.prefix ?? "sim:", commandTimeoutMs, name: `sim-${i}`, log });
    const seen: number[] = [];
    const replica = new Replica({ link, log, commandTimeoutMs, events: { applied: (ms) => delays.push(ms) } });
    replica.on("x", { apply: (_id, value) => seen.push((value as { n: number }).n) });
    replica.start();
    return { link, replica, seen };
  });
  const buildMs = Date.now() - building;
  return {
    async run() {
      const joining = Date.now();
      await waitFor("every replica joined", () => replicas.every(({ replica }) => replica.status().connected), 15_000);
      const joinMs = Date.now() - joining;
      const posting = Date.now();
      // Each post's failure is caught at once (Node ends the process on a rejection left unhandled
      // while the loop sleeps) and thrown after the loop.
      const posts: Promise<Error | null>[] = [];
      for (let n = 0; n < opts.changes; n++) {
        const from = replicas[Math.floor(Math.random() * replicas.length)];
        posts.push(
          from.replica.post(`x:${n % 50}`, { n }).then(
            () => null,
            (err: Error) => err,
          ),
        );
        await new Promise((r) => setTimeout(r, 1000 / opts.ratePerSecond));
      }
      const failed = (await Promise.all(posts)).filter((e) => e !== null);
      if (failed.length > 0) throw new Error(`${failed.length} of ${opts.changes} changes were not committed: ${failed[0].message}`);
      const postMs = Date.now() - posting;
      await waitFor("every replica applied every change", () => replicas.every(({ replica }) => replica.status().applied === opts.changes), 5_000);
      return {
        delays: [...delays],
        seen: replicas.map(({ seen }) => [...seen]),
        records: replicas.map(({ replica }) => JSON.stringify(replica.entries("x"))),
        epochs: new Set(replicas.map(({ replica }) => replica.status().epoch)),
        buildMs,
        joinMs,
        postMs,
      };
    },
    async close() {
      await Promise.all(replicas.map(({ link }) => link.close()));
      await Promise.all(replicas.map(({ replica }) => replica.close()));
    },
  };
}
