// Bench for issue 4: what stream-key validation costs.
//   1. Warm cache, in-process: publish decisions/s through AccessControl → StreamDirectory (remote
//      mode, key cached), next to its anchors in the same run — decide() alone (the decision with
//      the stream already in hand) and a bare lru-cache get + decide() (the cache with nothing of
//      ours around it). Ratios are edge / anchor.
//   2. Cold key against a local bintu (the embedded registry of a second edge, its own process)
//      behind the fault proxy injecting BINTU_LATENCY_MS: latency of a cold directory lookup next
//      to a bare fetch of the same URL through the same proxy (anchor), alternating per key.
//      "added" = directory − injected latency, and directory − bare fetch (what our code adds).
//
// env: BINTU_WARM_N (1,000,000) decisions per warm row, BINTU_COLD_N (300) cold keys,
//      BINTU_LATENCY_MS (5) injected latency, BINTU_ROUNDS (3) warm rows alternate this often.
import { LRUCache } from "lru-cache";
import { AccessControl, decide, type AccessRequest } from "../src/access/access.js";
import { PublishLimiter } from "../src/access/publish-limiter.js";
import { Guardian } from "../src/guardian/guardian.js";
import { StreamDirectory, type StreamInfo } from "../src/bintu/directory.js";
import { remoteSource } from "../src/bintu/remote-source.js";
import { startFaultProxy } from "../test/helpers/fault-proxy.js";
import { startServer } from "./lib/servers.js";
import { envNumber, fmt, mean, percentile, ratio, table } from "./lib/stats.js";

const WARM_N = envNumber("BINTU_WARM_N", 1_000_000);
const COLD_N = envNumber("BINTU_COLD_N", 300);
const LATENCY_MS = envNumber("BINTU_LATENCY_MS", 5);
const ROUNDS = Math.max(1, envNumber("BINTU_ROUNDS", 3));
const APPS = ["live", "rec"];

/** ns per call of `f`, run `n` times (awaited when it returns a promise). */
async function nsPerOp(n: number, f: () => unknown): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const r = f();
    if (r instanceof Promise) await r;
  }
  return ((performance.now() - started) * 1e6) / n;
}

async function warm(url: string, name: string): Promise<void> {
  const source = remoteSource({ url, apiKey: API_KEY, timeoutMs: 2_000, maxResponseBytes: 1 << 20, syncIntervalMs: 30_000 });
  // A TTL longer than the bench: every decision below is a cache hit.
  const directory = new StreamDirectory(source, { ttlMs: 3_600_000, negativeTtlMs: 1_000, maxEntries: 100_000, staleIfErrorMs: 600_000, breakerFailures: 5 });
  const limiter = new PublishLimiter({ maxPerMinute: 10, cooldownMs: 60_000 });
  const guardian = new Guardian({ apiRules: { list: () => [], onChange: () => () => {} }, allowMissingReferer: true });
  const nowhere = { locate: () => ({ at: "nowhere" }) as const };
  const access = new AccessControl({ streams: directory, locator: nowhere, apps: APPS, limiter, webhook: null, tokens: null, org: "", rules: guardian });
  const req: AccessRequest = { action: "publish", protocol: "rtmp", media: "here", app: "live", name, query: {}, ip: "127.0.0.1" };
  const stream = (await directory.lookup(name)) as StreamInfo;
  const lru = new LRUCache<string, { stream: StreamInfo }>({ max: 100_000, ttl: 3_600_000 });
  lru.set(name, { stream });

  const rows = { edge: [] as number[], lru: [] as number[], decide: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    rows.decide.push(await nsPerOp(WARM_N, () => decide(req, APPS, stream, nowhere.locate())));
    rows.lru.push(await nsPerOp(WARM_N, () => decide(req, APPS, lru.get(name)!.stream, nowhere.locate())));
    rows.edge.push(await nsPerOp(WARM_N, () => access.check(req)));
  }
  const best = (xs: number[]) => Math.min(...xs);
  const line = (label: string, ns: number[]) => [label, fmt(best(ns), 0), fmt(1e9 / best(ns) / 1e6, 2), ratio(best(rows.edge), best(ns))];
  console.log(`\n## Warm cache, in-process: publish decisions (${WARM_N.toLocaleString("en")} per row, best of ${ROUNDS} rounds)\n`);
  console.log(
    table(
      ["path", "ns/decision", "M decisions/s", "edge / this"],
      [
        line("edge: AccessControl.check → StreamDirectory (remote mode, cached)", rows.edge),
        line("anchor: lru-cache get + decide()", rows.lru),
        line("anchor: decide() with the stream in hand", rows.decide),
      ],
    ),
  );
}

async function cold(bintuUrl: string, names: string[]): Promise<void> {
  const proxy = await startFaultProxy({ teardown: () => {} }, bintuUrl);
  const rows: string[][] = [];
  try {
    for (const latency of [0, LATENCY_MS]) {
      await proxy.setMode(latency ? "slow" : "pass", { delayMs: latency });
      const source = remoteSource({ url: proxy.url, apiKey: API_KEY, timeoutMs: 2_000, maxResponseBytes: 1 << 20, syncIntervalMs: 30_000 });
      const directory = new StreamDirectory(source, {
        ttlMs: 3_600_000,
        negativeTtlMs: 1_000,
        maxEntries: 100_000,
        staleIfErrorMs: 600_000,
        breakerFailures: 5,
      });
      const bare: number[] = [];
      const ours: number[] = [];
      for (const [i, name] of names.entries()) {
        const fetchOnce = async () => {
          const t0 = performance.now();
          const res = await fetch(`${proxy.url}/stream?streamname=${name}&quantity=1000`, { headers: { "X-BINTU-APIKEY": API_KEY } });
          await res.json();
          bare.push(performance.now() - t0);
        };
        const lookupOnce = async () => {
          const t0 = performance.now();
          const { source: from } = await directory.resolve(name);
          ours.push(performance.now() - t0);
          if (from !== "bintu") throw new Error(`expected a cold lookup, got ${from}`);
        };
        // Alternate which goes first, so neither always meets a warmer connection or JIT state.
        if (i % 2) await fetchOnce().then(lookupOnce);
        else await lookupOnce().then(fetchOnce);
      }
      for (const [label, xs] of [
        ["bare fetch + JSON (anchor)", bare],
        ["directory cold lookup (edge)", ours],
      ] as const) {
        rows.push([`${latency} ms`, label, fmt(percentile(xs, 50), 2), fmt(percentile(xs, 95), 2), fmt(mean(xs), 2), fmt(Math.max(...xs), 2)]);
      }
      const p50 = (xs: number[]) => percentile(xs, 50);
      rows.push([`${latency} ms`, "added: edge − injected latency (p50)", fmt(p50(ours) - latency, 2), "", "", ""]);
      rows.push([`${latency} ms`, "added: edge − bare fetch (p50)", fmt(p50(ours) - p50(bare), 2), ratio(p50(ours), p50(bare)), "", ""]);
    }
  } finally {
    await proxy.close();
  }
  console.log(`\n## Cold key against a local bintu, ${names.length} distinct keys per latency (ms)\n`);
  console.log(table(["injected", "path", "p50", "p95", "mean", "max"], rows));
}

// The local bintu: the built edge (embedded registry) with ports 0, stopped by its PID.
const bintu = await startServer("edge");
const API_KEY = bintu.api!.key;
try {
  const url = `http://127.0.0.1:${bintu.api!.port}`;
  const names = await bintu.newStreamNames(COLD_N);
  await warm(url, names[0]);
  await cold(url, names);
} finally {
  await bintu.stop();
}
