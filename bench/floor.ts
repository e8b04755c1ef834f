// Where an origin's ingest floor goes (issue 13 §7): one server ingesting bench:relay's encoder with no
// viewer, per thread — run time (/proc/PID/task/*/schedstat, ns), user / system ticks and voluntary
// context switches (wake-ups) — and its read calls (/proc/PID/io), next to pristine node-media-server
// 4.4.3 (bench/setup.sh) ingesting the same encoder, servers alternating round by round. The window starts
// SETTLE_S after the publisher is in: V8's memory reducer runs full GCs at ~8-s intervals after a start,
// which a window from 8 s would hold (bench/README.md, bench:relay).
//
// env: FLOOR_SERVERS (edge nms), FLOOR_ROUNDS (2), SETTLE_S (30), WINDOW_S (30), FLOOR_LIMIT_S (900),
//      and bench:relay's encoder: RELAY_SIZE (1280x720), RELAY_FPS (30), RELAY_VIDEO_KBPS (3000), RELAY_GOP_S (2).
import { readdirSync, readFileSync } from "node:fs";
import { ENCODER, publishLive } from "./lib/encoder.js";
import { boundBench, nmsAvailable, startServer, type ServerKind } from "./lib/servers.js";
import { envList, envNumber, sleep, table } from "./lib/stats.js";

const SERVERS = envList("FLOOR_SERVERS", "edge nms") as ServerKind[];
const ROUNDS = envNumber("FLOOR_ROUNDS", 2);
const SETTLE_S = envNumber("SETTLE_S", 30);
const WINDOW_S = envNumber("WINDOW_S", 30);
boundBench("bench:floor", envNumber("FLOOR_LIMIT_S", 900));

interface Thread {
  ns: number;
  wakeups: number;
  user: number;
  sys: number;
}

/** Every thread of `pid` now, the main thread (tid = pid) as "main". */
function threads(pid: number): Map<string, Thread> {
  const out = new Map<string, Thread>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ", 1)[0]);
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // Fields after "(comm) ": utime [11], stime [12] (proc(5) fields 14 and 15), in clock ticks.
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const wakeups = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      out.set(tid === String(pid) ? "main" : tid, { ns, wakeups, user: Number(f[11]), sys: Number(f[12]) });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

function readCalls(pid: number): number {
  try {
    return Number(/syscr:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0; // /proc/PID/io needs the same user
  }
}

async function measure(kind: ServerKind): Promise<string[]> {
  const server = await startServer(kind);
  const name = await server.newStreamName();
  const encoder = publishLive(`rtmp://127.0.0.1:${server.rtmpPort}/live/${name}`, SETTLE_S + WINDOW_S + 10).child;
  try {
    await sleep(SETTLE_S * 1000);
    const [t0, r0, at0] = [threads(server.pid), readCalls(server.pid), performance.now()];
    await sleep(WINDOW_S * 1000);
    const [t1, r1, s] = [threads(server.pid), readCalls(server.pid), (performance.now() - at0) / 1000];
    const sum = { ns: 0, main: 0, wakeups: 0, user: 0, sys: 0 };
    for (const [tid, b] of t1) {
      const a = t0.get(tid) ?? { ns: 0, wakeups: 0, user: 0, sys: 0 };
      sum.ns += b.ns - a.ns;
      if (tid === "main") {
        sum.main = b.ns - a.ns;
        sum.wakeups = b.wakeups - a.wakeups;
        sum.user = b.user - a.user;
        sum.sys = b.sys - a.sys;
      }
    }
    const cores = (ns: number) => (ns / 1e9 / s).toFixed(4);
    return [
      kind,
      cores(sum.ns),
      cores(sum.main),
      cores(sum.ns - sum.main),
      `${sum.user} / ${sum.sys}`,
      (sum.wakeups / s).toFixed(0),
      ((r1 - r0) / s).toFixed(0),
    ];
  } finally {
    encoder.kill("SIGKILL");
    await server.stop();
  }
}

async function main(): Promise<void> {
  const servers = SERVERS.filter((k) => {
    const ok = k !== "nms" && k !== "nms-nodelay" ? { ok: true } : nmsAvailable();
    if (!ok.ok) console.log(`skipping ${k}: ${ok.why}`);
    return ok.ok;
  });
  const rows: string[][] = [];
  for (let r = 0; r < ROUNDS; r++) for (const kind of servers) rows.push(await measure(kind));
  console.log(`\nIngest floor: one publisher (${ENCODER}), no viewer; ${WINDOW_S}-s windows after ${SETTLE_S} s`);
  console.log(table(["server", "cores", "main thread", "other threads", "main user / sys ticks", "main wake-ups/s", "read calls/s"], rows));
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
