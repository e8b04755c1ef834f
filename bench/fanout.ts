// Bench for issue 3: CPU and RSS of the edge under fan-out and many publishers, next to
// node-media-server 4.4.3 unpatched with no hooks (and nginx-rtmp for RTMP rows when
// installed), in the same run, as ratios edge / NMS.
//
// Loads (each step on a freshly started server process, servers alternate per step):
//  * players: one ~1 Mbit/s publisher (ffmpeg -re -stream_loop -1 -c copy of bench/.vendor/media.flv)
//    and N HTTP-FLV or RTMP players in one Node process that read and discard;
//  * publishers: N publishers in one Node process replaying media.flv's tags at real time.
// Each step: connect, settle SETTLE_S, then sample WINDOW_S one-second samples of
// /proc/PID/{stat,status,io} of the server (CPU % of one core, RSS), the client processes,
// and the machine (so foreign load shows up as "other CPU").
//
// env: FANOUT_SERVERS ("edge nms nginx"), STEPS_PLAYERS ("1 50 200"), PLAYER_PROTOS ("flv rtmp"),
//      STEPS_PUBLISHERS ("100 200 300"), SETTLE_S (5), WINDOW_S (10). An empty list skips that load.
//      QUIET_PCT (25), QUIET_MAX_S (30): before each step wait up to QUIET_MAX_S for the machine
//      to be below QUIET_PCT % of one core busy (other jobs on a shared box); rows measured
//      with more than 20% foreign CPU in the window are marked with *.
import { spawn, type ChildProcess } from "node:child_process";
import { startClient, type ClientProc, type StatsMsg } from "./lib/client-proc.js";
import { readFlv } from "./lib/flv.js";
import { NCPU, sampleProc, sampleWindow, waitQuiet, type WindowResult } from "./lib/proc.js";
import { available, LABELS, MEDIA_FLV, startServer, type Server, type ServerKind } from "./lib/servers.js";
import { waitLive } from "./lib/live.js";
import { envList, envNumber, fmt, percentile, ratio, sleep, table } from "./lib/stats.js";

const KINDS = envList("FANOUT_SERVERS", "edge nms nginx") as ServerKind[];
const STEPS_PLAYERS = envList("STEPS_PLAYERS", "1 50 200").map(Number);
const PROTOS = envList("PLAYER_PROTOS", "flv rtmp") as ("flv" | "rtmp")[];
const STEPS_PUBLISHERS = envList("STEPS_PUBLISHERS", "100 200 300").map(Number);
const SETTLE_S = envNumber("SETTLE_S", 5);
const WINDOW_S = Math.max(1, Math.round(envNumber("WINDOW_S", 10)));
const QUIET_PCT = envNumber("QUIET_PCT", 25);
const QUIET_MAX_S = envNumber("QUIET_MAX_S", 30);
const FOREIGN_MARK = 20;

type Load = { type: "players"; proto: "flv" | "rtmp"; n: number } | { type: "publishers"; n: number };

interface Row {
  load: Load;
  kind: ServerKind;
  skipped?: string;
  server?: WindowResult;
  rssIdleMb?: number;
  clientCpu?: number; // players/publishers process
  feederCpu?: number; // ffmpeg publisher for player steps
  otherCpu?: number; // machine minus everything of ours
  ok?: number;
  failed?: number;
  aliveEnd?: number;
  kbitMin?: number;
  kbitMed?: number;
  backlogMax?: number;
  lagMax?: number;
  notes: string[];
}

const loadName = (l: Load) => (l.type === "players" ? `${l.n} ${l.proto === "flv" ? "HTTP-FLV" : "RTMP"} player(s)` : `${l.n} publishers`);

function startFfmpeg(port: number, name: string): { child: ChildProcess; stop(): Promise<void>; stderr(): string } {
  const child = spawn(
    "ffmpeg",
    ["-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", MEDIA_FLV, "-c", "copy", "-f", "flv", `rtmp://127.0.0.1:${port}/live/${name}`],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    stderr: () => err.trim(),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM"); // this child's PID only
        const k = setTimeout(() => child.kill("SIGKILL"), 2000);
        await exited;
        clearTimeout(k);
      }
    },
  };
}

function rates(a: StatsMsg, b: StatsMsg, seconds: number): number[] {
  return b.bytes.map((x, i) => ((x - (a.bytes[i] ?? 0)) * 8) / seconds / 1000);
}

async function runStep(kind: ServerKind, load: Load): Promise<Row> {
  const row: Row = { load, kind, notes: [] };
  if (load.type === "players" && load.proto === "flv" && kind === "nginx") return { ...row, skipped: "no HTTP-FLV in nginx-rtmp" };
  let server: Server | undefined;
  let feeder: ReturnType<typeof startFfmpeg> | undefined;
  let client: ClientProc | undefined;
  try {
    const q = await waitQuiet(QUIET_PCT, QUIET_MAX_S);
    if (!q.quiet) row.notes.push(`machine still ${fmt(q.busy, 0)}% busy after waiting ${QUIET_MAX_S} s for < ${QUIET_PCT}%`);
    server = await startServer(kind);
    let config: object;
    if (load.type === "players") {
      const name = await server.newStreamName();
      await sleep(500);
      row.rssIdleMb = (sampleProc(server.pid)?.rssKb ?? 0) / 1024;
      feeder = startFfmpeg(server.rtmpPort, name);
      await waitLive(server.rtmpPort, name);
      const port = load.proto === "flv" ? server.httpPort! : server.rtmpPort;
      config = { proto: load.proto, host: "127.0.0.1", port, app: "live", name, count: load.n };
      client = startClient("players", config);
    } else {
      const names = await server.newStreamNames(load.n);
      await sleep(500);
      row.rssIdleMb = (sampleProc(server.pid)?.rssKb ?? 0) / 1024;
      client = startClient("publishers", { host: "127.0.0.1", port: server.rtmpPort, app: "live", names, flv: MEDIA_FLV, chunkSize: 4096 });
    }
    const ready = await client.ready;
    row.ok = ready.ok;
    row.failed = ready.failed;
    for (const e of ready.errors) row.notes.push(`client error: ${e}`);
    await sleep(SETTLE_S * 1000);
    const s0 = await client.stats();
    const w = await sampleWindow({ server: server.pid, client: client.pid, feeder: feeder?.child.pid, self: process.pid }, WINDOW_S);
    const s1 = await client.stats();
    row.server = w.procs.server;
    row.clientCpu = w.procs.client?.cpuAvg;
    row.feederCpu = w.procs.feeder?.cpuAvg;
    row.otherCpu = w.machineBusyPct - Object.values(w.procs).reduce((a, p) => a + (Number.isFinite(p.cpuAvg) ? p.cpuAvg : 0), 0);
    const r = rates(s0, s1, WINDOW_S);
    row.kbitMin = r.length ? Math.min(...r) : NaN;
    row.kbitMed = percentile(r, 50);
    row.aliveEnd = s1.alive;
    row.backlogMax = s1.maxBacklog;
    row.lagMax = s1.maxLagMs;
    if (!w.procs.server.alive) row.notes.push("server process died during the window");
    if (feeder && feeder.child.exitCode !== null) row.notes.push(`ffmpeg publisher exited: ${feeder.stderr().split("\n")[0]}`);
  } catch (e) {
    row.skipped = (e as Error).message.split("\n")[0];
  } finally {
    await client?.stop();
    await feeder?.stop();
    const logs = server?.logLines() ?? [];
    if (logs.length) row.notes.push(`server printed ${logs.length} line(s), first: ${logs.slice(0, 2).join(" | ").slice(0, 300)}`);
    await server?.stop();
  }
  return row;
}

function printRows(title: string, rows: Row[]): void {
  if (rows.length === 0) return;
  const pub = rows[0].load.type === "publishers";
  console.log(`\n${title}`);
  const out: string[][] = [];
  for (const r of rows) {
    if (r.skipped) {
      out.push([String(r.load.n), r.kind, `skipped: ${r.skipped}`]);
      continue;
    }
    const s = r.server!;
    const perPub = (s.rssMaxMb - r.rssIdleMb!) / r.load.n;
    // /proc/PID/io counts read()/write(); nginx uses recv()/send(), which it does not see.
    const io = (v: number) => (r.kind === "nginx" ? "n/a" : fmt(v, 1));
    out.push([
      String(r.load.n),
      r.kind,
      `${fmt(s.cpuAvg)} (${fmt(s.cpuMax)})`,
      fmt(s.rssMaxMb, 0),
      fmt(r.rssIdleMb!, 0),
      ...(pub ? [fmt(perPub, 2), fmt(s.rssMaxMb / r.load.n, 2)] : []),
      io(s.readMbit),
      io(s.writeMbit),
      `${r.ok}/${r.load.n}${r.failed ? ` (${r.failed} failed)` : ""}`,
      String(r.aliveEnd),
      `${fmt(r.kbitMin!, 0)}/${fmt(r.kbitMed!, 0)}`,
      ...(pub
        ? [fmt(r.clientCpu!, 1), `${fmt((r.backlogMax ?? 0) / 1024, 0)}/${fmt(r.lagMax ?? NaN, 0)}`]
        : [`${fmt(r.clientCpu!, 1)} + ${fmt(r.feederCpu ?? NaN, 1)}`]),
      fmt(r.otherCpu!, 1) + (r.otherCpu! > FOREIGN_MARK ? " *" : ""),
    ]);
  }
  const head = pub
    ? [
        "N",
        "server",
        "CPU% avg (max)",
        "RSS MB",
        "idle MB",
        "MB/pub",
        "RSS/N",
        "in Mbit/s",
        "out Mbit/s",
        "connected",
        "alive",
        "kbit/s min/med sent",
        "client CPU%",
        "backlog KB/lag ms",
        "other CPU%",
      ]
    : [
        "N",
        "server",
        "CPU% avg (max)",
        "RSS MB",
        "idle MB",
        "in Mbit/s",
        "out Mbit/s",
        "connected",
        "alive",
        "kbit/s min/med recv",
        "players CPU% + ffmpeg",
        "other CPU%",
      ];
  console.log(table(head, out));
  for (const r of rows) for (const n of r.notes) console.log(`  note (${r.kind}, N=${r.load.n}): ${n}`);
}

async function main(): Promise<void> {
  const kinds: ServerKind[] = [];
  for (const k of KINDS) {
    if (!(k in LABELS)) throw new Error(`FANOUT_SERVERS: unknown server '${k}' (edge nms nms-nodelay nginx)`);
    const a = available(k);
    if (a.ok) kinds.push(k);
    else console.log(`note: skipped ${LABELS[k]}: ${a.why}`);
  }
  const media = readFlv(MEDIA_FLV);
  const loads: Load[] = [
    ...PROTOS.flatMap((proto) => STEPS_PLAYERS.map((n): Load => ({ type: "players", proto, n }))),
    ...STEPS_PUBLISHERS.map((n): Load => ({ type: "publishers", n })),
  ];
  console.log(
    `fan-out bench: servers ${kinds.join(", ")}; media ${fmt((media.bytesPerSecond * 8) / 1000, 0)} kbit/s; settle ${SETTLE_S} s, window ${WINDOW_S} s; ${NCPU} CPUs.\n` +
      `CPU% is of one core (avg over the window, max of 1 s samples); RSS is the max in the window; idle = the fresh server before load;\n` +
      `MB/pub = (RSS − idle) / N; RSS/N = RSS / N (the NMS notes' "1.7 MB per publisher" was RSS / N);\n` +
      `in/out = the server's read/write bytes (/proc/PID/io); other CPU% = machine busy minus server, clients, ffmpeg and this process.`,
  );
  const rows: Row[] = [];
  const started = performance.now();
  for (const load of loads) {
    for (const kind of kinds) {
      const row = await runStep(kind, load);
      rows.push(row);
      const s = row.server;
      console.log(
        `  [${fmt((performance.now() - started) / 1000, 0)} s] ${loadName(load)} on ${kind}: ` +
          (s ? `CPU ${fmt(s.cpuAvg)}%, RSS ${fmt(s.rssMaxMb, 0)} MB, ${row.ok}/${load.n} connected` : `skipped (${row.skipped})`),
      );
    }
  }

  const group = (f: (l: Load) => boolean) => rows.filter((r) => f(r.load));
  for (const proto of PROTOS) {
    printRows(
      `${proto === "flv" ? "HTTP-FLV" : "RTMP"} players of one ~1 Mbit/s publisher (ffmpeg -re -c copy)`,
      group((l) => l.type === "players" && l.proto === proto),
    );
  }
  printRows(
    "publishers, ~1 Mbit/s each (one Node process replaying media.flv over raw RTMP)",
    group((l) => l.type === "publishers"),
  );

  // Ratios edge / NMS (and edge / nginx where measured).
  const anchors = kinds.filter((k) => k !== "edge");
  if (kinds.includes("edge") && anchors.length) {
    console.log("\nratios edge / anchor, same run (CPU = window average; RSS = max in window; MB/pub = (RSS − idle) / N):");
    const out: string[][] = [];
    for (const load of loads) {
      const e = rows.find((r) => r.load === load && r.kind === "edge");
      for (const a of anchors) {
        const x = rows.find((r) => r.load === load && r.kind === a);
        if (!e?.server || !x?.server) continue;
        const perPub = (r: Row) => (r.server!.rssMaxMb - r.rssIdleMb!) / r.load.n;
        const mark = (e.otherCpu ?? 0) > FOREIGN_MARK || (x.otherCpu ?? 0) > FOREIGN_MARK ? " *" : "";
        out.push([
          loadName(load) + mark,
          a,
          ratio(e.server.cpuAvg, x.server.cpuAvg),
          ratio(e.server.rssMaxMb, x.server.rssMaxMb),
          load.type === "publishers" ? `${ratio(perPub(e), perPub(x))} (${fmt(perPub(e), 2)} vs ${fmt(perPub(x), 2)} MB)` : "",
        ]);
      }
    }
    console.log(table(["load", "anchor", "CPU edge/anchor", "RSS edge/anchor", "RSS per publisher edge/anchor"], out));
    if (out.some((r) => r[0].endsWith(" *"))) console.log(`* foreign CPU above ${FOREIGN_MARK}% of one core during one of the two windows`);
  }
  console.log(`\ntotal ${fmt((performance.now() - started) / 1000, 0)} s`);
}

main().catch((e: Error) => {
  console.error(`bench fanout: ${e.stack ?? e.message}`);
  process.exitCode = 1;
});
