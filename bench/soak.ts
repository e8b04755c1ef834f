// Soak (issue 18 §7): one publisher, player churn over HTTP-FLV and RTMP, then the same with stalled
// readers too, against the built edge in its own process. Reports per phase, after a warm-up:
// heap-used and RSS slopes (least squares, MB per hour), open files and session-table size at the
// start and end, and — after everything has disconnected — whether open files are back where the
// phase began. Not part of `npm test`: it runs for minutes and its figures are timings of a machine.
//
// The leak verdict comes from the heap after a forced full collection (bench/lib/gc-probe.cjs, preloaded
// into the edge for the soak only), fitted by least squares over the post-warm-up probes with a 95%
// confidence interval: "flat" only when the whole interval is at or under SOAK_GOAL_MB_H.
//
// env: SOAK_PHASE1_S (600), SOAK_PHASE2_S (600), SOAK_WARMUP_S (60), SOAK_SAMPLE_S (5),
//      SOAK_PLAYERS (20 concurrent churning players), SOAK_STALLED (20 stalled readers in phase 2),
//      SOAK_HOLD_MIN_S / SOAK_HOLD_MAX_S (1 / 6: how long a churning player stays),
//      SOAK_SETTLE_S (35: wait after a phase before "all gone", past the 30 s idle deadline),
//      SOAK_GOAL_MB_H (1: the heap growth the verdict allows),
//      SOAK_HEAP_SNAPSHOTS (a directory: the edge writes a heap snapshot there after each phase's
//      warm-up and at its last sample, to name what grew; unset = none).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RawRtmpClient } from "../test/helpers/rtmp-client.js";
import { sampleProc } from "./lib/proc.js";
import { heapDiff } from "./lib/heap-diff.js";
import { fmtTrend, GcProber, quietDrift, quietHeap, slopePerHour, trend, verdict, type GcProbe } from "./lib/heap-trend.js";
import { ROOT, startServer, type Server } from "./lib/servers.js";
import { envNumber, fmt, sleep, table } from "./lib/stats.js";

const PHASE1_S = envNumber("SOAK_PHASE1_S", 600);
const PHASE2_S = envNumber("SOAK_PHASE2_S", 600);
const WARMUP_S = envNumber("SOAK_WARMUP_S", 60);
const SAMPLE_S = envNumber("SOAK_SAMPLE_S", 5);
const PLAYERS = envNumber("SOAK_PLAYERS", 20);
const STALLED = envNumber("SOAK_STALLED", 20);
const HOLD_MIN_S = envNumber("SOAK_HOLD_MIN_S", 1);
const HOLD_MAX_S = envNumber("SOAK_HOLD_MAX_S", 6);
const SETTLE_S = envNumber("SOAK_SETTLE_S", 35);
const GOAL_MB_H = envNumber("SOAK_GOAL_MB_H", 1);
const SNAPSHOTS = process.env.SOAK_HEAP_SNAPSHOTS ?? "";

interface Sample {
  t: number; // s since the phase began
  rssMb: number;
  heapMb: number;
  fds: number;
  sessions: number;
  gc?: GcProbe; // what survived a forced full collection at this sample
}

const openFiles = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** Open files by kind (socket, pipe, anon_inode:[eventfd], file), to tell a leak from a one-time open. */
function fdKinds(pid: number): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const kind = /^(socket|pipe):/.test(target) ? target.slice(0, target.indexOf(":")) : target.startsWith("anon_inode:") ? target : "file " + target;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return kinds;
}

function fdDiff(before: Map<string, number>, after: Map<string, number>): string {
  const out: string[] = [];
  for (const k of new Set([...before.keys(), ...after.keys()])) {
    const d = (after.get(k) ?? 0) - (before.get(k) ?? 0);
    if (d !== 0) out.push(`${k} ${d > 0 ? "+" : ""}${d}`);
  }
  return out.length ? out.join(", ") : "none";
}

async function sample(server: Server, t0: number, gc?: GcProber, snapshot?: string): Promise<Sample | undefined> {
  const api = `http://127.0.0.1:${server.api!.port}`;
  const headers = { "X-BINTU-APIKEY": server.api!.key };
  try {
    const metrics = await (await fetch(`${api}/metrics`)).text();
    const heap = Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(metrics)?.[1]);
    const sessions = ((await (await fetch(`${api}/v1/sessions`, { headers })).json()) as unknown[]).length;
    const proc = sampleProc(server.pid);
    if (!proc) return undefined;
    // The sawtooth heap first, then the collection (which would flatten it).
    const s: Sample = { t: (performance.now() - t0) / 1000, rssMb: proc.rssKb / 1024, heapMb: heap / 1048576, fds: openFiles(server.pid), sessions };
    const probe = await gc?.probe(snapshot);
    if (probe) s.gc = probe;
    return s;
  } catch {
    return undefined;
  }
}

function publisher(server: Server, name: string): ChildProcess {
  // A small real H.264/AAC stream, as an encoder sends it; -re keeps it at real time.
  const args = ["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"];
  args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency");
  args.push("-g", "50", "-b:v", "500k", "-c:a", "aac", "-b:a", "64k", "-f", "flv", `rtmp://127.0.0.1:${server.rtmpPort}/live/${name}`);
  const child = spawn("ffmpeg", args, { stdio: ["ignore", "ignore", "inherit"] });
  return child;
}

const hold = () => (HOLD_MIN_S + Math.random() * (HOLD_MAX_S - HOLD_MIN_S)) * 1000;

/** One HTTP-FLV player that reads everything for a while, then leaves. */
async function flvPlayer(server: Server, name: string, counts: Record<string, number>): Promise<void> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), hold());
  try {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/live/${name}.flv`, { signal: ac.signal });
    if (res.status !== 200 || !res.body) {
      counts.refused++;
      await res.body?.cancel();
      return;
    }
    counts.flv++;
    for await (const chunk of res.body) counts.bytes += (chunk as Uint8Array).length;
  } catch {
    // aborted at the end of its hold: the normal way out
  } finally {
    clearTimeout(timer);
  }
}

async function rtmpPlayer(server: Server, name: string, counts: Record<string, number>): Promise<void> {
  let c: RawRtmpClient | undefined;
  try {
    c = await RawRtmpClient.connect(server.rtmpPort, "127.0.0.1", { queueMedia: false, timeoutMs: 5000 });
    await c.handshake();
    await c.connectApp("live");
    const st = await c.play(await c.createStream(), name);
    if (st.code !== "NetStream.Play.Start") counts.refused++;
    else counts.rtmp++;
    await sleep(hold());
  } catch {
    counts.errors++;
  } finally {
    c?.destroy();
  }
}

/**
 * A player that connects and never reads: its backlog grows until the slow-consumer rule drops it,
 * then it comes back — the worst a stalled audience does.
 */
function stalledReader(server: Server, name: string, stop: () => boolean, counts: Record<string, number>): Promise<void> {
  return new Promise((resolve) => {
    const again = () => {
      if (stop()) return resolve();
      const s = net.connect(server.httpPort!, "127.0.0.1", () => {
        s.write(`GET /live/${name}.flv HTTP/1.1\r\nHost: edge\r\n\r\n`);
        s.pause(); // never read: the kernel buffers fill, then the edge's send backlog
      });
      counts.stalled++;
      const done = () => setTimeout(again, 500);
      s.once("error", () => {});
      s.once("close", done);
      // A paused socket never sees the edge's FIN: a blank line (allowed before a request line)
      // every 2 s meets the reset once the slow-consumer rule has dropped it, and it comes back.
      let ticks = 0;
      const check = setInterval(() => {
        if (stop()) {
          clearInterval(check);
          s.destroy();
        } else if (++ticks % 4 === 0 && s.writable) s.write("\r\n");
      }, 500);
      s.once("close", () => clearInterval(check));
    };
    again();
  });
}

async function phase(server: Server, gc: GcProber, name: string, seconds: number, stalled: number, label: string): Promise<string[]> {
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  const stop = () => performance.now() >= until;
  const counts: Record<string, number> = { flv: 0, rtmp: 0, refused: 0, errors: 0, stalled: 0, bytes: 0 };
  const samples: Sample[] = [];
  // One sample first: the sampler's own keep-alive connections to the API are then in the baseline.
  const before = await sample(server, t0, gc);
  const quietStart = await quietHeap(gc);
  const startFds = openFiles(server.pid);
  const startKinds = fdKinds(server.pid);
  const churn = Array.from({ length: PLAYERS }, async (_, i) => {
    while (!stop()) await (i % 2 === 0 ? flvPlayer(server, name, counts) : rtmpPlayer(server, name, counts));
  });
  const stalls = Array.from({ length: stalled }, () => stalledReader(server, name, stop, counts));
  const tag = label.split(" ").slice(0, 2).join("");
  let snapped = false;
  const snapshots: string[] = [];
  while (!stop()) {
    // Heap snapshots (SOAK_HEAP_SNAPSHOTS): the first sample after warm-up and the last one.
    const t = (performance.now() - t0) / 1000;
    const last = t + SAMPLE_S >= seconds;
    const snap = SNAPSHOTS && ((t >= WARMUP_S && !snapped) || last) ? join(SNAPSHOTS, `${tag}-${last ? "end" : "warm"}.heapsnapshot`) : undefined;
    if (snap && !last) snapped = true;
    const s = await sample(server, t0, gc, snap);
    if (s) samples.push(s);
    if (s?.gc?.snapshot) snapshots.push(s.gc.snapshot);
    await sleep(SAMPLE_S * 1000);
  }
  await Promise.all([...churn, ...stalls]);
  // Closes settle, and kept-alive or idle connections reach their deadline (idleTimeoutMs, 30 s).
  await sleep(SETTLE_S * 1000);
  const after = await sample(server, t0, gc);
  const quietEnd = await quietHeap(gc);
  const afterKinds = fdKinds(server.pid);
  const steady = samples.filter((s) => s.t >= WARMUP_S);
  const heapSlope = slopePerHour(steady.map((s) => ({ t: s.t, y: s.heapMb })));
  // heapUsed between collections is a sawtooth; the lowest value of each window of 6 samples
  // follows what survives collection (the edge cannot be asked to collect), a fairer leak signal.
  const floors: { t: number; y: number }[] = [];
  for (let i = 0; i + 6 <= steady.length; i += 6) {
    const w = steady.slice(i, i + 6);
    const low = w.reduce((a, s) => (s.heapMb < a.heapMb ? s : a));
    floors.push({ t: low.t, y: low.heapMb });
  }
  const floorSlope = slopePerHour(floors);
  const rssSlope = slopePerHour(steady.map((s) => ({ t: s.t, y: s.rssMb })));
  const probed = steady.filter((s) => s.gc);
  const gcHeap = trend(probed.map((s) => ({ t: s.t, y: s.gc!.heapMb })));
  const gcExternal = trend(probed.map((s) => ({ t: s.t, y: s.gc!.externalMb })));
  const gcCode = trend(probed.map((s) => ({ t: s.t, y: s.gc!.codeMb })));
  const gcObjects = trend(probed.map((s) => ({ t: s.t, y: s.gc!.heapMb - s.gc!.codeMb })));
  const gcMs = probed.map((s) => s.gc!.gcMs);
  // The same fit over the last half alone: a warm-up still under way (JIT code, caches filling)
  // shows as a steeper first half, a leak as the same slope in both.
  const lateHeap = trend(probed.slice(Math.floor(probed.length / 2)).map((s) => ({ t: s.t, y: s.gc!.heapMb })));
  const first = steady[0] ?? samples[0];
  const last = samples[samples.length - 1];
  console.log(`\n${label}: ${seconds} s, ${PLAYERS} churning players${stalled ? `, ${stalled} stalled readers` : ""}`);
  console.log(
    `  plays: ${counts.flv} HTTP-FLV, ${counts.rtmp} RTMP, ${counts.refused} refused, ${counts.errors} errors, ${counts.stalled} stalled connects, ${fmt(counts.bytes / 1048576)} MB read`,
  );
  console.log(
    table(
      ["", "t (s)", "heap (MB)", "RSS (MB)", "open files", "sessions"],
      [
        ["phase start", "0", "", "", String(startFds), ""],
        ["after warm-up", fmt(first.t, 0), fmt(first.heapMb), fmt(first.rssMb), String(first.fds), String(first.sessions)],
        ["last sample", fmt(last.t, 0), fmt(last.heapMb), fmt(last.rssMb), String(last.fds), String(last.sessions)],
        [
          `all gone +${SETTLE_S} s`,
          after ? fmt(after.t, 0) : "?",
          after ? fmt(after.heapMb) : "?",
          after ? fmt(after.rssMb) : "?",
          String(after?.fds ?? "?"),
          String(after?.sessions ?? "?"),
        ],
      ],
    ),
  );
  const gcAt = (s: Sample | undefined) => (s?.gc ? fmt(s.gc.heapMb, 2) : "?");
  const lines = [
    `${label}: heap after forced full GC ${fmtTrend(gcHeap)} → ${verdict(gcHeap, GOAL_MB_H)}; last half alone ${fmtTrend(lateHeap)}`,
    `${label}: post-GC heap ${gcAt(before)} MB at start → ${gcAt(first)} after warm-up → ${gcAt(last)} last → ${gcAt(after)} all gone;` +
      ` external (Buffers) ${fmtTrend(gcExternal)}; forced GC took ${fmt(Math.max(...gcMs), 0)} ms at most`,
    quietStart && quietEnd
      ? `${label}: post-GC heap between quiet moments (publisher only), start → all gone: ${fmt(quietStart.mean, 2)} → ${fmt(quietEnd.mean, 2)} MB over ${fmt(quietEnd.t - quietStart.t, 0)} s = ${fmtTrend(quietDrift(quietStart, quietEnd))} → ${verdict(quietDrift(quietStart, quietEnd), GOAL_MB_H)}`
      : `${label}: quiet-moment probes missing`,
    ...snapshotLines(label, snapshots),
    `${label}: of the post-GC heap, compiled code ${fmtTrend(gcCode)}; objects ${fmtTrend(gcObjects)}`,
    `${label}: sawtooth heap slope ${fmt(heapSlope, 2)} MB/h (floor of ${floors.length} windows: ${fmt(floorSlope, 2)} MB/h), RSS slope ${fmt(rssSlope, 2)} MB/h over ${steady.length} samples after ${WARMUP_S} s warm-up;` +
      ` open files ${startFds} → ${after?.fds ?? "?"} (start → all gone), sessions at end ${after?.sessions ?? "?"}`,
  ];
  lines.push(`${label}: open files changed by kind (start → all gone): ${fdDiff(startKinds, afterKinds)}`);
  console.log("  " + lines.join("\n  "));
  return lines;
}

/** What grew between the phase's two heap snapshots (SOAK_HEAP_SNAPSHOTS), if both were written. */
function snapshotLines(label: string, files: string[]): string[] {
  if (files.length < 2) return [];
  const d = heapDiff(files[0], files[files.length - 1]);
  return [
    `${label}: heap snapshots after warm-up → last sample: V8 code and metadata ${fmt(d.v8OwnKb, 0)} KB, objects ${fmt(d.objectsKb, 0)} KB;` +
      ` objects that grew most: ${d.topObjects.join(", ")} (${files.join(", ")})`,
  ];
}

async function main(): Promise<void> {
  const gcDir = mkdtempSync(join(tmpdir(), "soak-gc-"));
  const gcFile = join(gcDir, "probes.jsonl");
  const probe = join(ROOT, "bench", "lib", "gc-probe.cjs");
  const server = await startServer("edge", {
    EDGE_PLAYBACK_END_GRACE_MS: "2000",
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require "${probe}"`.trim(),
    SOAK_GC_FILE: gcFile,
  });
  const gc = new GcProber(server.pid, gcFile);
  const children: ChildProcess[] = [];
  try {
    // SIGUSR2 without the probe's handler would end the edge: the probe writes a line when it loads.
    if (!existsSync(gcFile)) throw new Error("soak: bench/lib/gc-probe.cjs was not preloaded into the edge");
    if (!(await gc.probe())) throw new Error("soak: the GC probe did not answer (bench/lib/gc-probe.cjs not preloaded?)");
    const name = await server.newStreamName();
    const pub = publisher(server, name);
    children.push(pub);
    await sleep(4_000);
    const summary = [
      ...(await phase(server, gc, name, PHASE1_S, 0, "phase 1 (no stalled readers)")),
      ...(await phase(server, gc, name, PHASE2_S, STALLED, "phase 2 (with stalled readers)")),
    ];
    console.log("\nsummary (goal: heap ≤ 1 MB/h after warm-up, open files back to the start):");
    for (const l of summary) console.log("  " + l);
    const extra = server.logLines().filter((l) => / (error|warn) /.test(l) && !/connection refused/.test(l));
    if (extra.length) console.log(`\nedge warnings/errors (${extra.length}):\n  ${extra.slice(0, 10).join("\n  ")}`);
  } finally {
    for (const c of children) c.kill("SIGKILL");
    await server.stop();
    rmSync(gcDir, { recursive: true, force: true });
  }
}

await main();
