// Bench for issue 13 (origin pull): what a viewer far from the encoder pays, and what the origin
// saves, each next to its anchor from the same run.
//  1. Time to first frame (TTFF: request sent → first video tag read) of an HTTP-FLV viewer on the
//     origin A (anchor), on a pulling edge B with a cold pull (no viewer there: B starts the pull),
//     and on B with a warm pull (another viewer keeps it, running for WARM_AFTER_MS; the local viewer
//     joins A under the same condition: another viewer reading there for WARM_AFTER_MS). Goals: cold ≤
//     local + 150 ms, warm within 10 %. Also shown: a viewer joining B in the same instant as the cold
//     one, while A's GOP cache (up to RELAY_GOP_S of video) is still crossing A → B → the first viewer.
//  2. A's CPU and egress for VIEWERS viewers on A itself (anchor) vs the same viewers spread over
//     EDGES pulling edges, beside A with no viewer (its ingest floor), in ROUNDS rounds of the three.
//     Goals: CPU ≤ 0.1×, egress = one stream per pulling edge.
// The edges pull over `cluster.origins` (the two-tier set-up, no Redis: the fleet's locator only
// decides which origin URL is asked; the media path is the same). Loopback, one machine.
//
// env: TTFF_RUNS (15), WARM_AFTER_MS (500), VIEWERS (200), EDGES (4), ROUNDS (3), SETTLE_S (8), WINDOW_S (10), RELAY_LIMIT_S (420),
//      the encoder: RELAY_SIZE (1280x720), RELAY_FPS (30), RELAY_VIDEO_KBPS (3000), RELAY_GOP_S (2).
import { startClient } from "./lib/client-proc.js";
import { ENCODER, publishLive } from "./lib/encoder.js";
import { cpuNs } from "./lib/proc.js";
import { boundBench, startServer, type Server } from "./lib/servers.js";
import { envNumber, fmt, percentile, ratio, sleep, table } from "./lib/stats.js";

const RUNS = envNumber("TTFF_RUNS", 15);
const WARM_AFTER_MS = envNumber("WARM_AFTER_MS", 500);
const VIEWERS = envNumber("VIEWERS", 200);
const EDGES = envNumber("EDGES", 4);
const ROUNDS = envNumber("ROUNDS", 3);
const SETTLE_S = envNumber("SETTLE_S", 8);
const WINDOW_S = envNumber("WINDOW_S", 10);
const LIMIT_S = envNumber("RELAY_LIMIT_S", 420);
// Short, so that a phase starts with no pull left over from the one before; A's cost while a pull runs does not depend on it.
const LINGER_MS = 2_000;
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
  // The encoder (bench/lib/encoder.ts), one for every phase, for as long as the bench may run.
  const ffmpeg = publishLive(`rtmp://127.0.0.1:${a.rtmpPort}/live/${name}`, LIMIT_S).child;
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

  // 1. TTFF: sequential single viewers, alternating local / cold / joining / warm so drift hits all alike.
  const ttff = { local: [] as number[], cold: [] as number[], joining: [] as number[], warm: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    // Local: like the warm viewer on B below, it joins while another viewer of the stream has been
    // reading from the same server for WARM_AFTER_MS, so both rows run under the same load.
    const other = viewer(flv(a, name));
    await other.first;
    await sleep(WARM_AFTER_MS);
    const l = viewer(flv(a, name));
    ttff.local.push(await l.first);
    l.stop();
    other.stop();
    // Cold: B has no pull (linger 0; wait until A serves no relay).
    for (let w = 0; w < 50 && (await relayCount(a)) > 0; w++) await sleep(100);
    const c = viewer(flv(b, name));
    ttff.cold.push(await c.first);
    // The cold viewer keeps the pull. Joining: a second viewer at once, while the pull's start burst
    // (A's GOP cache) still occupies A, B and this process's reader of the cold viewer on two cores.
    const j = viewer(flv(b, name));
    ttff.joining.push(await j.first);
    j.stop();
    // Warm: a viewer joins the running pull, B serving it from its own GOP cache as A serves a local one.
    await sleep(WARM_AFTER_MS);
    const w = viewer(flv(b, name));
    ttff.warm.push(await w.first);
    w.stop();
    c.stop();
    await sleep(200);
  }
  const row = (label: string, xs: number[]) => [label, fmt(percentile(xs, 50)), fmt(percentile(xs, 95)), ratio(percentile(xs, 50), percentile(ttff.local, 50))];
  console.log(`\nTTFF of one HTTP-FLV viewer, ${RUNS} runs each (ms; ratio = p50 / local p50)`);
  console.log(
    table(
      ["viewer", "p50", "p95", "vs local"],
      [
        row("on A (local, anchor)", ttff.local),
        row("on B, cold pull", ttff.cold),
        row(`on B, warm pull (+${WARM_AFTER_MS} ms)`, ttff.warm),
        row("on B, joining the cold start", ttff.joining),
      ],
    ),
  );
  const [local50, cold50, warm50] = [percentile(ttff.local, 50), percentile(ttff.cold, 50), percentile(ttff.warm, 50)];
  console.log(
    `cold − local p50: ${fmt(cold50 - local50)} ms (goal ≤ 150); warm − local p50: ${fmt(warm50 - local50)} ms, ${ratio(warm50, local50)} (goal within 10 %)`,
  );
  await b.stop();

  // 2. A's cost: VIEWERS on A vs VIEWERS over EDGES pulling edges, beside A's ingest-only floor, in
  //    ROUNDS rounds of the three so that drift of the shared machine falls on all of them alike.
  //    Viewers are plain-socket HTTP-FLV readers in EDGES client processes (bench/clients/players.ts),
  //    VIEWERS / EDGES each, in both halves: the bench process reading 200 streams through fetch
  //    would compete with A for the same two cores. A's CPU is its own threads' run time
  //    (/proc/PID/task/*/schedstat, ns) over the same WINDOW_S in every phase.
  const edges: Server[] = [];
  for (let i = 0; i < EDGES; i++) edges.push(await edge(String(LINGER_MS)));
  const measure = async (targets: Server[]) => {
    const per = Math.ceil(VIEWERS / EDGES);
    const clients = targets.length
      ? Array.from({ length: EDGES }, (_, i) =>
          startClient("players", {
            proto: "flv",
            host: "127.0.0.1",
            port: targets[i % targets.length].httpPort!,
            app: "live",
            name,
            count: per,
            concurrency: 10,
          }),
        )
      : [];
    const ready = await Promise.all(clients.map((c) => c.ready));
    const failed = ready.reduce((n, r) => n + r.failed, 0);
    await sleep(SETTLE_S * 1000);
    const ns0 = cpuNs(a.pid)!;
    const t0 = performance.now();
    await sleep(WINDOW_S * 1000);
    const cpu = (cpuNs(a.pid)! - ns0) / 1e6 / (performance.now() - t0);
    const l = await load(a);
    await Promise.all(clients.map((c) => c.stop()));
    // The pulls end after their linger; the next phase starts with none.
    for (let w = 0; w < 100 && (await relayCount(a)) > 0; w++) await sleep(200);
    await sleep(1000);
    return { cpu, egress: l.egressMbps, players: l.players, relays: l.relays, failed };
  };
  type Phase = Awaited<ReturnType<typeof measure>>;
  const phases = { idle: [] as Phase[], local: [] as Phase[], spread: [] as Phase[] };
  // A phase's window must not hold the garbage of the phase before it: V8 collects it in the seconds after
  // a load stops (measured: the first ingest-only window after the TTFF runs read twice the floor). Hence a
  // pause before the rounds, and the order pulled → local → floor, so that the two compared phases follow
  // a quiet one, and the floor (a reference) follows the 200 viewers.
  await sleep(SETTLE_S * 1000);
  for (let r = 0; r < ROUNDS; r++) {
    phases.spread.push(await measure(edges));
    phases.local.push(await measure([a]));
    // The floor: A ingesting the encoder with no viewer (what no pull can save).
    phases.idle.push(await measure([]));
    const [i, l, s] = [phases.idle[r], phases.local[r], phases.spread[r]];
    console.log(`round ${r + 1}: A CPU floor ${fmt(i.cpu, 4)}, local ${fmt(l.cpu, 4)}, pulled ${fmt(s.cpu, 4)} cores → ratio ${ratio(s.cpu, l.cpu)}`);
  }
  const med = (xs: Phase[], k: "cpu" | "egress") =>
    percentile(
      xs.map((x) => x[k]),
      50,
    );
  const rowOf = (label: string, xs: Phase[]) => [
    label,
    fmt(med(xs, "cpu"), 4),
    fmt(med(xs, "egress")),
    `${xs.at(-1)!.players} / ${xs.at(-1)!.relays}`,
    String(xs.reduce((n, x) => n + x.failed, 0)),
  ];
  const [idle, local, spread] = [med(phases.idle, "cpu"), med(phases.local, "cpu"), med(phases.spread, "cpu")];
  const roundRatio = percentile(
    phases.spread.map((p, r) => p.cpu / phases.local[r].cpu),
    50,
  );
  console.log(`\nOrigin A's cost for ${VIEWERS} viewers (CPU: median over ${ROUNDS} rounds of a ${WINDOW_S}-s window after ${SETTLE_S} s; encoder ${ENCODER})`);
  console.log(
    table(
      ["viewers", "A CPU (cores)", "A egress Mbit/s", "A players / relays", "failed"],
      [
        rowOf("none (A ingests only)", phases.idle),
        rowOf(`${VIEWERS} on A (anchor)`, phases.local),
        rowOf(`${VIEWERS} over ${EDGES} pulling edges`, phases.spread),
      ],
    ),
  );
  console.log(
    `A's CPU ratio pulled / local: ${ratio(spread, local)} of the medians, ${ratio(roundRatio, 1)} the median round (goal ≤ 0.1); above A's ingest-only floor: ${fmt(Math.max(0, spread - idle), 4)} vs ${fmt(local - idle, 4)} cores; egress per pulling edge: ${fmt(med(phases.spread, "egress") / EDGES, 2)} Mbit/s vs ${fmt(med(phases.local, "egress") / VIEWERS, 2)} per local viewer`,
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
