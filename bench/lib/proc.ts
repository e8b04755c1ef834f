// Per-process CPU / memory / I/O from /proc (Linux only), sampled by the bench process.
// CPU is utime+stime of /proc/PID/stat (100% = one core), RSS is VmRSS of /proc/PID/status,
// rchar/wchar of /proc/PID/io count the bytes the process read/wrote (sockets included).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";

let clkTck = 100;
try {
  clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {
  // getconf missing: Linux's USER_HZ is 100 on every common platform.
}
export const NCPU = cpus().length;

export interface ProcSample {
  t: number; // ms, performance.now()
  cpuS: number; // utime + stime, seconds
  rssKb: number;
  rchar: number;
  wchar: number;
}

export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const t = performance.now();
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm) ": state is [0], utime [11], stime [12] (fields 14 and 15 of proc(5)).
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuS = (Number(f[11]) + Number(f[12])) / clkTck;
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    let rchar = 0;
    let wchar = 0;
    try {
      const io = readFileSync(`/proc/${pid}/io`, "utf8");
      rchar = Number(/rchar:\s+(\d+)/.exec(io)?.[1] ?? 0);
      wchar = Number(/wchar:\s+(\d+)/.exec(io)?.[1] ?? 0);
    } catch {
      // /proc/PID/io needs the same user (or root); leave the I/O columns at 0.
    }
    return { t, cpuS, rssKb, rchar, wchar };
  } catch {
    return undefined; // process gone
  }
}

/**
 * CPU time of every thread of `pid` in ns (sum of /proc/PID/task/TID/schedstat's first field): exact where
 * utime+stime counts 10 ms ticks, which is ±10 % of a 10-s window at 0.01 cores. Threads that ended are
 * not counted (a Node process keeps its V8 and libuv threads). Undefined once the process is gone.
 */
export function cpuNs(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ", 1)[0]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
    return ns;
  } catch {
    return undefined;
  }
}

/** Machine-wide busy CPU seconds (all cores) from /proc/stat: everything except idle and iowait. */
export function machineBusyS(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = v;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / clkTck;
}

export interface WindowResult {
  cpuAvg: number; // % of one core over the window
  cpuMax: number; // highest 1 s value
  rssMaxMb: number;
  rssEndMb: number;
  readMbit: number; // rchar rate
  writeMbit: number; // wchar rate
  alive: boolean;
}

/** One-second samples of `pids` for `seconds`; `main` is the process reported in detail. */
export async function sampleWindow(
  pids: Record<string, number | undefined>,
  seconds: number,
): Promise<{
  procs: Record<string, WindowResult>;
  machineBusyPct: number; // % of one core, all cores summed (max NCPU*100)
}> {
  const names = Object.keys(pids).filter((k) => pids[k] !== undefined);
  const first: Record<string, ProcSample | undefined> = {};
  const prev: Record<string, ProcSample | undefined> = {};
  const max: Record<string, number> = {};
  const rssMax: Record<string, number> = {};
  for (const n of names) {
    first[n] = prev[n] = sampleProc(pids[n]!);
    max[n] = 0;
    rssMax[n] = first[n]?.rssKb ?? 0;
  }
  const busy0 = machineBusyS();
  const t0 = performance.now();
  const last: Record<string, ProcSample | undefined> = { ...first };
  for (let i = 0; i < seconds; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    for (const n of names) {
      const s = sampleProc(pids[n]!);
      const p = prev[n];
      if (s && p) max[n] = Math.max(max[n], ((s.cpuS - p.cpuS) / ((s.t - p.t) / 1000)) * 100);
      if (s) {
        rssMax[n] = Math.max(rssMax[n], s.rssKb);
        last[n] = s;
      }
      prev[n] = s;
    }
  }
  const wall = (performance.now() - t0) / 1000;
  const machineBusyPct = ((machineBusyS() - busy0) / wall) * 100;
  const procs: Record<string, WindowResult> = {};
  for (const n of names) {
    const a = first[n];
    const b = last[n];
    const dt = a && b ? (b.t - a.t) / 1000 : 0;
    procs[n] = {
      cpuAvg: a && b && dt > 0 ? ((b.cpuS - a.cpuS) / dt) * 100 : NaN,
      cpuMax: max[n],
      rssMaxMb: rssMax[n] / 1024,
      rssEndMb: (b?.rssKb ?? 0) / 1024,
      readMbit: a && b && dt > 0 ? ((b.rchar - a.rchar) * 8) / dt / 1e6 : NaN,
      writeMbit: a && b && dt > 0 ? ((b.wchar - a.wchar) * 8) / dt / 1e6 : NaN,
      alive: prev[n] !== undefined,
    };
  }
  return { procs, machineBusyPct };
}

/** CPU used by the machine in the last `ms` (% of one core, summed over cores). */
export async function machineBusyOver(ms: number): Promise<number> {
  const b0 = machineBusyS();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return ((machineBusyS() - b0) / ((performance.now() - t0) / 1000)) * 100;
}

/**
 * Waits (up to `maxS` seconds) until the machine is quieter than `pct` % of one core over a
 * 1 s sample, so a measurement does not start on top of someone else's CPU-heavy job.
 * Returns the last busy figure and whether it got quiet.
 */
export async function waitQuiet(pct: number, maxS: number): Promise<{ busy: number; quiet: boolean }> {
  const deadline = performance.now() + maxS * 1000;
  for (;;) {
    const busy = await machineBusyOver(1000);
    if (busy <= pct) return { busy, quiet: true };
    if (performance.now() >= deadline) return { busy, quiet: false };
  }
}
