// Bench for issue 13 (origin pull): what a viewer far from the encoder pays, and what the origin
// saves, each next to its anchor from the same run.
//  1. Time to first frame (TTFF: request sent → first video tag read) of an HTTP-FLV viewer on the
//     origin A (anchor), on a pulling edge B with a cold pull (no viewer there: B starts the pull),
//     and on B with a warm pull (another viewer keeps it). Goals: cold ≤ local + 150 ms, warm within 10 %.
//  2. A's CPU and egress for VIEWERS viewers on A itself (anchor) vs the same viewers spread over
//     EDGES pulling edges. Goals: CPU ≤ 0.1×, egress = one stream per pulling edge.
// The edges pull over `cluster.origins` (the two-tier set-up, no Redis: the fleet's locator only
// decides which origin URL is asked; the media path is the same). Loopback, one machine.
//
// env: TTFF_RUNS (15), VIEWERS (200), EDGES (4), SETTLE_S (4), WINDOW_S (5), RELAY_LIMIT_S (240).
import { publish } from "../test/helpers/ffmpeg.js";
import { boundBench, startServer, type Server } from "./lib/servers.js";
import { envNumber, fmt, percentile, ratio, sleep, table } from "./lib/stats.js";

const RUNS = envNumber("TTFF_RUNS", 15);
const VIEWERS = envNumber("VIEWERS", 200);
const EDGES = envNumber("EDGES", 4);
const SETTLE_S = envNumber("SETTLE_S", 4);
const WINDOW_S = envNumber("WINDOW_S", 5);
const LIMIT_S = envNumber("RELAY_LIMIT_S", 240);
boundBench("bench:relay", LIMIT_S);

const KEYS = JSON.stringify([{ kid: "bench-relay", alg: "HS256", secret: "bench-relay-shared-secret-0123456789abcdef" }]);

/** A viewer that reads and discards; `first` resolves with ms to the first video tag. */
function viewer(url: string): { first: Promise<number>; stop(): void } {
  const abort = new AbortController();
  const started = performance.now();
  const first = (async () => {
    const res = await fetch(url, { signal: abort.signal });
    if (res.status !== 200 || !res.body) throw new Error(`${url}: ${res.status}`);
    let pending = Buffer.alloc(0);
    let header = false;
    let seen = -1;
    const reader = res.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("ended before video");
      if (seen >= 0) continue;
      pending = Buffer.concat([pending, value]);
      if (!header && pending.length >= 13) {
        pending = pending.subarray(13);
        header = true;
      }
      while (header && pending.length >= 11) {
        const size = pending.readUIntBE(1, 3);
        if (pending.length < 15 + size) break;
        if (pending[0] === 9) {
          seen = performance.now() - started;
          // Keep reading (and discarding) in the background, like a player.
          void (async () => {
            for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return;
          })();
          return seen;
        }
        pending = pending.subarray(15 + size);
      }
    }
  })();
  first.catch(() => {});
  return { first, stop: () => abort.abort() };
}

const flv = (s: Server, name: string) => `http://127.0.0.1:${s.httpPort}/live/${name}.flv`;

async function load(s: Server): Promise<{ cpu: number; egressMbps: number; relays: number; players: number }> {
  return (await (await fetch(`http://127.0.0.1:${s.api!.port}/v1/load`)).json()) as { cpu: number; egressMbps: number; relays: number; players: number };
}

async function relayCount(a: Server): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${a.api!.port}/v1/sessions`, { headers: { "X-BINTU-APIKEY": a.api!.key } });
  return ((await res.json()) as { role: string }[]).filter((s) => s.role === "relay").length;
}

async function main(): Promise<void> {
  const a = await startServer("edge", { EDGE_AUTH_KEYS: KEYS });
  const edge = (linger: string) =>
    startServer("edge", {
      EDGE_AUTH_KEYS: KEYS,
      EDGE_BINTU_MODE: "remote",
      EDGE_BINTU_URL: `http://127.0.0.1:${a.api!.port}`,
      EDGE_BINTU_APIKEY: a.api!.key,
      EDGE_CLUSTER_ORIGINS: `http://127.0.0.1:${a.httpPort}`,
      EDGE_CLUSTER_PULL_LINGER_MS: linger,
    });
  const b = await edge("0");
  const name = await a.newStreamName();
  // The encoder: 640x360 25 fps H.264 + AAC at 1 Mbit/s, keyframe every second, in real time
  // (the tests' publisher, test/helpers/ffmpeg.ts), for as long as the bench may run.
  const ffmpeg = publish(`rtmp://127.0.0.1:${a.rtmpPort}/live/${name}`, { seconds: LIMIT_S, size: "640x360", videoBitrate: "1000k" }).child;
  process.on("exit", () => ffmpeg.kill("SIGKILL"));
  for (let i = 0; i < 50; i++) {
    const v = viewer(flv(a, name));
    const ok = await Promise.race([
      v.first.then(
        () => true,
        () => false,
      ),
      sleep(500).then(() => false),
    ]);
    v.stop();
    if (ok) break;
    await sleep(300);
  }

  // 1. TTFF: sequential single viewers, alternating local / cold / warm so drift hits all alike.
  const ttff = { local: [] as number[], cold: [] as number[], warm: [] as number[] };
  const keeper = { v: null as ReturnType<typeof viewer> | null };
  for (let i = 0; i < RUNS; i++) {
    const l = viewer(flv(a, name));
    ttff.local.push(await l.first);
    l.stop();
    // Cold: B has no pull (linger 0; wait until A serves no relay).
    for (let w = 0; w < 50 && (await relayCount(a)) > 0; w++) await sleep(100);
    const c = viewer(flv(b, name));
    ttff.cold.push(await c.first);
    // Warm: the cold viewer keeps the pull while a second one joins.
    keeper.v = c;
    const w = viewer(flv(b, name));
    ttff.warm.push(await w.first);
    w.stop();
    keeper.v.stop();
    await sleep(200);
  }
  const row = (label: string, xs: number[]) => [label, fmt(percentile(xs, 50)), fmt(percentile(xs, 95)), ratio(percentile(xs, 50), percentile(ttff.local, 50))];
  console.log(`\nTTFF of one HTTP-FLV viewer, ${RUNS} runs each (ms; ratio = p50 / local p50)`);
  console.log(
    table(
      ["viewer", "p50", "p95", "vs local"],
      [row("on A (local, anchor)", ttff.local), row("on B, cold pull", ttff.cold), row("on B, warm pull", ttff.warm)],
    ),
  );
  console.log(`cold − local p50: ${fmt(percentile(ttff.cold, 50) - percentile(ttff.local, 50))} ms (goal ≤ 150)`);
  await b.stop();

  // 2. A's cost: VIEWERS on A vs VIEWERS over EDGES pulling edges.
  const measure = async (urls: string[]) => {
    const vs = urls.map((u) => viewer(u));
    await Promise.allSettled(vs.map((v) => v.first));
    await sleep(SETTLE_S * 1000);
    const samples = [];
    for (let i = 0; i < WINDOW_S; i++) {
      await sleep(1000);
      samples.push(await load(a));
    }
    vs.forEach((v) => v.stop());
    await sleep(1000);
    return {
      cpu: percentile(
        samples.map((s) => s.cpu),
        50,
      ),
      egress: percentile(
        samples.map((s) => s.egressMbps),
        50,
      ),
      last: samples.at(-1)!,
    };
  };
  // The floor: A ingesting the encoder with no viewer (what no pull can save).
  const idle = await measure([]);
  const local = await measure(Array.from({ length: VIEWERS }, () => flv(a, name)));
  const edges: Server[] = [];
  for (let i = 0; i < EDGES; i++) edges.push(await edge("10000"));
  const spread = await measure(Array.from({ length: VIEWERS }, (_, i) => flv(edges[i % EDGES], name)));
  console.log(`\nOrigin A's cost for ${VIEWERS} viewers (median of ${WINDOW_S} one-second /v1/load samples after ${SETTLE_S} s)`);
  console.log(
    table(
      ["viewers", "A CPU (cores)", "A egress Mbit/s", "A players / relays"],
      [
        ["none (A ingests only)", fmt(idle.cpu, 3), fmt(idle.egress), `${idle.last.players} / ${idle.last.relays}`],
        [`${VIEWERS} on A (anchor)`, fmt(local.cpu, 3), fmt(local.egress), `${local.last.players} / ${local.last.relays}`],
        [`${VIEWERS} over ${EDGES} pulling edges`, fmt(spread.cpu, 3), fmt(spread.egress), `${spread.last.players} / ${spread.last.relays}`],
      ],
    ),
  );
  console.log(
    `A's CPU ratio pulled / local: ${ratio(spread.cpu, local.cpu)} (goal ≤ 0.1); above A's ingest-only floor: ${fmt(Math.max(0, spread.cpu - idle.cpu), 3)} vs ${fmt(local.cpu - idle.cpu, 3)} cores; egress per pulling edge: ${fmt(spread.egress / EDGES, 2)} Mbit/s vs ${fmt(local.egress / VIEWERS, 2)} per local viewer`,
  );
  for (const e of edges) await e.stop();
  await a.stop();
  ffmpeg.kill("SIGKILL");
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
