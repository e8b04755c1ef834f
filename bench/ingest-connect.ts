// Bench for issue 2: RTMP connect → NetStream.Publish.Start latency, p50/p95, of the edge
// (key check included, warm key: the stream exists and was published before) next to its
// anchors in the same run: node-media-server 4.4.3 unpatched with no hook (Nagle as shipped),
// the same + setNoDelay, and nginx-rtmp. Sequential connections with the raw test client
// (TCP_NODELAY on the client socket), measured from the TCP connect() call to the onStatus.
//
// env: CONNECT_N (200) measured connections per server, CONNECT_WARMUP (20) per server,
//      CONNECT_ROUNDS (4) the N are split into rounds that alternate between the servers, so a
//      burst of foreign load hits all of them alike, CONNECT_GAP_MS (10) pause after each
//      disconnect, CONNECT_SERVERS ("edge nms nms-nodelay nginx"), QUIET_PCT (25) / QUIET_MAX_S (30):
//      before each round wait up to QUIET_MAX_S for the machine to be below QUIET_PCT % of one core.
import { RawRtmpClient } from "../test/helpers/rtmp-client.js";
import { machineBusyS, NCPU, waitQuiet } from "./lib/proc.js";
import { available, LABELS, startServer, type Server, type ServerKind } from "./lib/servers.js";
import { envList, envNumber, fmt, mean, percentile, ratio, sleep, table } from "./lib/stats.js";

const N = envNumber("CONNECT_N", 200);
const WARMUP = envNumber("CONNECT_WARMUP", 20);
const ROUNDS = Math.max(1, Math.min(N, envNumber("CONNECT_ROUNDS", 4)));
const GAP_MS = envNumber("CONNECT_GAP_MS", 10);
const QUIET_PCT = envNumber("QUIET_PCT", 25);
const QUIET_MAX_S = envNumber("QUIET_MAX_S", 30);
const KINDS = envList("CONNECT_SERVERS", "edge nms nms-nodelay nginx") as ServerKind[];

const PHASES = ["tcp", "handshake", "connect", "createStream", "publish"] as const;
type Phase = (typeof PHASES)[number];

interface Sample {
  total: number;
  phase: Record<Phase, number>;
}

interface Target {
  kind: ServerKind;
  server: Server;
  name: string;
  samples: Sample[];
  errors: Map<string, number>;
}

/** One connection: TCP connect → handshake → connect → createStream → publish → first onStatus. */
async function once(port: number, name: string): Promise<Sample> {
  const t0 = performance.now();
  const c = await RawRtmpClient.connect(port, "127.0.0.1", { noDelay: true, timeoutMs: 5000 });
  try {
    const t1 = performance.now();
    await c.handshake();
    const t2 = performance.now();
    await c.connectApp("live");
    const t3 = performance.now();
    const sid = await c.createStream();
    const t4 = performance.now();
    const st = await c.publish(sid, name);
    const t5 = performance.now();
    if (st.code !== "NetStream.Publish.Start") throw new Error(st.code);
    return { total: t5 - t0, phase: { tcp: t1 - t0, handshake: t2 - t1, connect: t3 - t2, createStream: t4 - t3, publish: t5 - t4 } };
  } finally {
    c.destroy();
  }
}

async function runMany(t: Target, count: number, record: boolean): Promise<void> {
  for (let i = 0; i < count; i++) {
    try {
      const s = await once(t.server.rtmpPort, t.name);
      if (record) t.samples.push(s);
    } catch (e) {
      const msg = (e as Error).message;
      t.errors.set(msg, (t.errors.get(msg) ?? 0) + 1);
    }
    await sleep(GAP_MS); // let the server see the disconnect before the same key publishes again
  }
}

async function main(): Promise<void> {
  const targets: Target[] = [];
  const notes: string[] = [];
  try {
    for (const kind of KINDS) {
      if (!(kind in LABELS)) throw new Error(`CONNECT_SERVERS: unknown server '${kind}' (edge nms nms-nodelay nginx)`);
      const a = available(kind);
      if (!a.ok) {
        notes.push(`skipped ${LABELS[kind]}: ${a.why}`);
        continue;
      }
      try {
        const server = await startServer(kind);
        // Edge: one registry stream, published over and over — its key is "warm" after warm-up.
        targets.push({ kind, server, name: await server.newStreamName(), samples: [], errors: new Map() });
      } catch (e) {
        notes.push(`skipped ${LABELS[kind]}: ${(e as Error).message.split("\n")[0]}`);
      }
    }
    if (targets.length === 0) throw new Error("no server to measure");
    const quietBusy: number[] = [];
    const quiet = async () => {
      const q = await waitQuiet(QUIET_PCT, QUIET_MAX_S);
      quietBusy.push(q.busy);
      if (!q.quiet) notes.push(`machine still ${fmt(q.busy, 0)}% busy after waiting ${QUIET_MAX_S} s for < ${QUIET_PCT}%`);
    };
    await quiet();
    const start = performance.now();
    let measuring = 0; // seconds inside measured rounds, for the busy figure
    let busyIn = 0;
    for (const t of targets) await runMany(t, WARMUP, false);
    for (let r = 0; r < ROUNDS; r++) {
      if (r > 0) await quiet();
      const share = Math.floor(N / ROUNDS) + (r < N % ROUNDS ? 1 : 0);
      const [b, t0] = [machineBusyS(), performance.now()];
      for (const t of targets) await runMany(t, share, true);
      busyIn += machineBusyS() - b;
      measuring += (performance.now() - t0) / 1000;
    }
    const seconds = (performance.now() - start) / 1000;

    console.log(`\nRTMP connect → NetStream.Publish.Start, ${N} sequential connections per server after ${WARMUP} warm-up,`);
    console.log(
      `in ${ROUNDS} alternating rounds; client: raw test client, TCP_NODELAY; ${NCPU} CPUs; ${fmt(seconds, 0)} s.\n` +
        `Machine busy before each round: ${quietBusy.map((b) => fmt(b, 0)).join(", ")}% of one core; during the rounds (bench included): ${fmt((busyIn / measuring) * 100, 0)}%.`,
    );
    const rows = targets.map((t) => {
      const tot = t.samples.map((s) => s.total);
      const errs = [...t.errors.values()].reduce((a, b) => a + b, 0);
      return [
        LABELS[t.kind],
        fmt(percentile(tot, 50), 2),
        fmt(percentile(tot, 95), 2),
        fmt(mean(tot), 2),
        fmt(Math.max(...tot), 1),
        `${t.samples.length}/${errs}`,
        ...PHASES.map((ph) =>
          fmt(
            percentile(
              t.samples.map((s) => s.phase[ph]),
              50,
            ),
            2,
          ),
        ),
      ];
    });
    console.log(table(["server", "p50 ms", "p95 ms", "mean", "max", "ok/err", ...PHASES.map((p) => `${p} p50`)], rows));

    const edge = targets.find((t) => t.kind === "edge");
    if (edge) {
      console.log("\nratio edge / anchor (lower is better for the edge):");
      const e50 = percentile(
        edge.samples.map((s) => s.total),
        50,
      );
      const e95 = percentile(
        edge.samples.map((s) => s.total),
        95,
      );
      console.log(
        table(
          ["anchor", "p50 ratio", "p95 ratio"],
          targets
            .filter((t) => t !== edge)
            .map((t) => {
              const tot = t.samples.map((s) => s.total);
              return [LABELS[t.kind], ratio(e50, percentile(tot, 50)), ratio(e95, percentile(tot, 95))];
            }),
        ),
      );
    }
    for (const t of targets) {
      for (const [msg, n] of t.errors) notes.push(`${t.kind}: ${n}× ${msg}`);
      const logs = t.server.logLines();
      if (logs.length) notes.push(`${t.kind} printed ${logs.length} line(s), first: ${logs.slice(0, 3).join(" | ")}`);
    }
    for (const n of notes) console.log(`note: ${n}`);
  } finally {
    for (const t of targets) await t.server.stop();
  }
}

main().catch((e: Error) => {
  console.error(`bench ingest-connect: ${e.stack ?? e.message}`);
  process.exitCode = 1;
});
