// Bench for issue 15 §6: what TLS costs the edge, in one run, as ratios TLS / plain.
//  1. connect → NetStream.Publish.Start, p50/p95, over RTMPS vs RTMP: one edge serving both
//     (rtmp.plain on), sequential connections with the raw test client (TCP_NODELAY), each a full
//     TLS handshake (no session resumption: an encoder reconnecting does one too), rounds
//     alternating between the two so foreign load hits both alike;
//  2. HTTP-FLV fan-out: N players of one ~1 Mbit/s stream (ffmpeg -re -c copy of bench/.vendor/
//     media.flv, published over plain RTMP) over HTTPS vs HTTP, each on a freshly started edge
//     (the playback port speaks one or the other), server CPU averaged over the window.
// Certificates: a CA and a P-256 leaf made with openssl for this run (test/helpers/pki.ts); clients
// verify the edge against that CA.
//
// env: TLS_CONNECT_N (200) measured connections per protocol, TLS_CONNECT_WARMUP (20),
//      TLS_CONNECT_ROUNDS (4), TLS_PLAYERS (200), SETTLE_S (5), WINDOW_S (10),
//      QUIET_PCT (25) / QUIET_MAX_S (30) as in the other benches.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { RawRtmpClient } from "../test/helpers/rtmp-client.js";
import { makePki } from "../test/helpers/pki.js";
import { startClient, type ClientProc } from "./lib/client-proc.js";
import { waitLive } from "./lib/live.js";
import { NCPU, sampleWindow, waitQuiet } from "./lib/proc.js";
import { MEDIA_FLV, VENDOR, startServer, type Server } from "./lib/servers.js";
import { envNumber, fmt, mean, percentile, ratio, sleep, table } from "./lib/stats.js";

const N = envNumber("TLS_CONNECT_N", 200);
const WARMUP = envNumber("TLS_CONNECT_WARMUP", 20);
const ROUNDS = Math.max(1, Math.min(N, envNumber("TLS_CONNECT_ROUNDS", 4)));
const PLAYERS = envNumber("TLS_PLAYERS", 200);
const SETTLE_S = envNumber("SETTLE_S", 5);
const WINDOW_S = Math.max(1, Math.round(envNumber("WINDOW_S", 10)));
const QUIET_PCT = envNumber("QUIET_PCT", 25);
const QUIET_MAX_S = envNumber("QUIET_MAX_S", 30);

const cleanups: (() => void)[] = [];
process.on("exit", () => cleanups.forEach((f) => f()));
const pki = makePki({ teardown: (f) => cleanups.push(f) });
const leaf = pki.leaf(0x1001);
const ca = readFileSync(pki.caFile, "utf8");
const TLS_ENV = { EDGE_TLS_CERT_FILE: leaf.cert, EDGE_TLS_KEY_FILE: leaf.key, EDGE_RTMP_TLS_PORT: "0" };
const clientTls = { ca, servername: "localhost" };

/** The fan-out feed, as bench/setup.sh §3 encodes it (that script also fetches NMS and nginx, not needed here). */
function ensureMedia(): void {
  if (existsSync(MEDIA_FLV)) return;
  mkdirSync(VENDOR, { recursive: true });
  console.log(`encoding ${MEDIA_FLV} (20 s, ~1 Mbit/s)`);
  const r = spawnSync(
    "ffmpeg",
    [
      "-hide_banner",
      "-loglevel",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      "testsrc=size=640x360:rate=25",
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:sample_rate=44100",
      "-t",
      "20",
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-tune",
      "zerolatency",
      "-pix_fmt",
      "yuv420p",
      "-b:v",
      "900k",
      "-maxrate",
      "900k",
      "-bufsize",
      "900k",
      "-g",
      "50",
      "-keyint_min",
      "50",
      "-sc_threshold",
      "0",
      "-c:a",
      "aac",
      "-b:a",
      "64k",
      "-ac",
      "2",
      "-f",
      "flv",
      MEDIA_FLV,
    ],
    { stdio: "inherit" },
  );
  if (r.status !== 0) throw new Error("ffmpeg could not encode the bench media");
}

interface Sample {
  total: number;
  /** TCP connect, plus the TLS handshake for RTMPS. */
  transport: number;
}

async function once(port: number, name: string, secure: boolean): Promise<Sample> {
  const t0 = performance.now();
  const c = await RawRtmpClient.connect(port, "127.0.0.1", { noDelay: true, timeoutMs: 5000, ...(secure ? { tls: clientTls } : {}) });
  try {
    const t1 = performance.now();
    await c.handshake();
    await c.connectApp("live");
    const st = await c.publish(await c.createStream(), name);
    if (st.code !== "NetStream.Publish.Start") throw new Error(st.code);
    return { total: performance.now() - t0, transport: t1 - t0 };
  } finally {
    c.destroy();
  }
}

async function connectBench(): Promise<string[]> {
  const notes: string[] = [];
  const server = await startServer("edge", TLS_ENV, { ca });
  try {
    const name = await server.newStreamName();
    const runs = { rtmp: [] as Sample[], rtmps: [] as Sample[] };
    const errors = { rtmp: 0, rtmps: 0 };
    const run = async (secure: boolean, count: number, record: boolean) => {
      const key = secure ? "rtmps" : "rtmp";
      for (let i = 0; i < count; i++) {
        try {
          const s = await once(secure ? server.rtmpsPort! : server.rtmpPort, name, secure);
          if (record) runs[key].push(s);
        } catch (e) {
          errors[key]++;
          if (errors[key] <= 3) notes.push(`${key}: ${(e as Error).message}`);
        }
        await sleep(10); // the server sees the disconnect before the same key publishes again
      }
    };
    await run(false, WARMUP, false);
    await run(true, WARMUP, false);
    for (let r = 0; r < ROUNDS; r++) {
      const q = await waitQuiet(QUIET_PCT, QUIET_MAX_S);
      if (!q.quiet) notes.push(`round ${r + 1}: machine still ${fmt(q.busy, 0)}% busy`);
      const share = Math.floor(N / ROUNDS) + (r < N % ROUNDS ? 1 : 0);
      // Alternate which goes first, so neither always follows the other's disconnects.
      for (const secure of r % 2 === 0 ? [false, true] : [true, false]) await run(secure, share, true);
    }
    const row = (label: string, s: Sample[], err: number) => {
      const tot = s.map((x) => x.total);
      return [
        label,
        fmt(percentile(tot, 50), 2),
        fmt(percentile(tot, 95), 2),
        fmt(mean(tot), 2),
        fmt(
          percentile(
            s.map((x) => x.transport),
            50,
          ),
          2,
        ),
        `${s.length}/${err}`,
      ];
    };
    console.log(
      `\n1. connect → NetStream.Publish.Start, ${N} sequential connections per protocol after ${WARMUP} warm-up, ${ROUNDS} alternating rounds, one edge`,
    );
    console.log(
      table(
        ["protocol", "p50 ms", "p95 ms", "mean", "tcp(+tls) p50", "ok/err"],
        [row("RTMP", runs.rtmp, errors.rtmp), row("RTMPS (TLS 1.3, P-256)", runs.rtmps, errors.rtmps)],
      ),
    );
    const p = (s: Sample[], q: number) =>
      percentile(
        s.map((x) => x.total),
        q,
      );
    console.log(`ratio RTMPS / RTMP: p50 ${ratio(p(runs.rtmps, 50), p(runs.rtmp, 50))}, p95 ${ratio(p(runs.rtmps, 95), p(runs.rtmp, 95))}`);
  } finally {
    await server.stop();
  }
  return notes;
}

interface FanRow {
  label: string;
  cpu: number;
  cpuMax: number;
  rssMb: number;
  ok: number;
  alive: number;
  kbitMed: number;
  clientCpu: number;
  otherCpu: number;
}

async function fanoutStep(secure: boolean): Promise<FanRow> {
  const q = await waitQuiet(QUIET_PCT, QUIET_MAX_S);
  if (!q.quiet) console.log(`  note: machine still ${fmt(q.busy, 0)}% busy before the ${secure ? "HTTPS" : "HTTP"} step`);
  let server: Server | undefined;
  let feeder: ChildProcess | undefined;
  let client: ClientProc | undefined;
  try {
    server = secure ? await startServer("edge", TLS_ENV, { ca }) : await startServer("edge");
    const name = await server.newStreamName();
    feeder = spawn(
      "ffmpeg",
      [
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        MEDIA_FLV,
        "-c",
        "copy",
        "-f",
        "flv",
        `rtmp://127.0.0.1:${server.rtmpPort}/live/${name}`,
      ],
      {
        stdio: "ignore",
      },
    );
    await waitLive(server.rtmpPort, name);
    client = startClient("players", { proto: "flv", host: "127.0.0.1", port: server.httpPort, app: "live", name, count: PLAYERS, ...(secure ? { ca } : {}) });
    const ready = await client.ready;
    if (ready.errors.length) console.log(`  note: player errors: ${ready.errors.join("; ")}`);
    await sleep(SETTLE_S * 1000);
    const s0 = await client.stats();
    const w = await sampleWindow({ server: server.pid, client: client.pid, feeder: feeder.pid, self: process.pid }, WINDOW_S);
    const s1 = await client.stats();
    const kbit = s1.bytes.map((b, i) => ((b - (s0.bytes[i] ?? 0)) * 8) / WINDOW_S / 1000);
    const ours = Object.values(w.procs).reduce((a, p) => a + (Number.isFinite(p.cpuAvg) ? p.cpuAvg : 0), 0);
    return {
      label: secure ? "HTTPS-FLV" : "HTTP-FLV",
      cpu: w.procs.server.cpuAvg,
      cpuMax: w.procs.server.cpuMax,
      rssMb: w.procs.server.rssMaxMb,
      ok: ready.ok,
      alive: s1.alive,
      kbitMed: percentile(kbit, 50),
      clientCpu: w.procs.client?.cpuAvg ?? NaN,
      otherCpu: w.machineBusyPct - ours,
    };
  } finally {
    await client?.stop();
    feeder?.kill("SIGTERM"); // this child's PID only
    await server?.stop();
  }
}

async function main(): Promise<void> {
  ensureMedia();
  const started = performance.now();
  console.log(`TLS bench: ${NCPU} CPUs; certificate: P-256 leaf of a test CA; Node ${process.version}`);
  const notes = await connectBench();
  for (const n of notes) console.log(`  note: ${n}`);

  const rows: FanRow[] = [];
  for (const secure of [false, true]) {
    const row = await fanoutStep(secure);
    rows.push(row);
    console.log(`  [${fmt((performance.now() - started) / 1000, 0)} s] ${row.label}: server CPU ${fmt(row.cpu)}%, ${row.ok}/${PLAYERS} players`);
  }
  console.log(`\n2. HTTP-FLV fan-out: ${PLAYERS} players of one ~1 Mbit/s stream, settle ${SETTLE_S} s, window ${WINDOW_S} s, fresh edge per step`);
  console.log(
    table(
      ["playback", "server CPU% avg (max)", "RSS MB", "connected", "alive", "kbit/s med", "players CPU%", "other CPU%"],
      rows.map((r) => [
        r.label,
        `${fmt(r.cpu)} (${fmt(r.cpuMax)})`,
        fmt(r.rssMb, 0),
        `${r.ok}/${PLAYERS}`,
        String(r.alive),
        fmt(r.kbitMed, 0),
        fmt(r.clientCpu),
        fmt(r.otherCpu),
      ]),
    ),
  );
  const [plain, secure] = rows;
  console.log(`ratio HTTPS / HTTP: server CPU ${ratio(secure.cpu, plain.cpu)}, RSS ${ratio(secure.rssMb, plain.rssMb)}`);
  console.log(`\ntotal ${fmt((performance.now() - started) / 1000, 0)} s`);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`bench:tls failed: ${e.stack ?? e.message}`);
    process.exit(1);
  },
);
