// The soak's memory instruments (issue 18 §7): forced full collections in the edge through the
// preloaded bench/lib/gc-probe.cjs, and a least-squares trend with a confidence interval to judge
// "flat" by.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fmt, sleep } from "./stats.js";

export interface GcProbe {
  heapMb: number;
  /** Of heapMb: compiled code (JIT output grows while a workload warms up; not a leak of objects). */
  codeMb: number;
  externalMb: number; // Buffers and other memory outside the V8 heap (socket backlogs live here)
  gcMs: number;
  snapshot?: string;
}

interface ProbeLine {
  heapUsed?: number;
  external: number;
  gcMs: number;
  spaces?: Record<string, number>;
  snapshot?: string;
}

/** Forced full collections in the edge through bench/lib/gc-probe.cjs (SIGUSR2 → one JSON line). */
export class GcProber {
  constructor(
    private readonly pid: number,
    private readonly file: string,
  ) {}

  private lines(): string[] {
    return existsSync(this.file) ? readFileSync(this.file, "utf8").split("\n").filter(Boolean) : [];
  }

  /** One forced collection; with `snapshotPath`, the edge also writes a heap snapshot there. */
  async probe(snapshotPath?: string): Promise<GcProbe | undefined> {
    const seen = this.lines().length;
    if (snapshotPath) writeFileSync(this.file + ".snapshot", snapshotPath);
    try {
      process.kill(this.pid, "SIGUSR2");
    } catch {
      return undefined; // edge gone
    }
    // A collection takes up to a second on a busy machine; a heap snapshot, several.
    const until = performance.now() + (snapshotPath ? 120_000 : 10_000);
    while (performance.now() < until) {
      await sleep(50);
      const lines = this.lines();
      if (lines.length > seen) {
        const p = JSON.parse(lines[lines.length - 1]) as ProbeLine;
        if (p.heapUsed === undefined) continue; // the load line
        const code = (p.spaces?.code_space ?? 0) + (p.spaces?.code_large_object_space ?? 0);
        const out: GcProbe = { heapMb: p.heapUsed / 1048576, codeMb: code / 1048576, externalMb: p.external / 1048576, gcMs: p.gcMs };
        if (p.snapshot) out.snapshot = p.snapshot;
        return out;
      }
    }
    return undefined;
  }
}

/** Least-squares slope of y over t (s), in units per hour. */
export function slopePerHour(points: { t: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? NaN : (num / den) * 3600;
}

/** Two-sided 95% quantile of Student's t with `dof` degrees of freedom (Cornish-Fisher, ±0.01 for dof ≥ 3). */
function t975(dof: number): number {
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * dof) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * dof ** 2);
}

export interface Trend {
  slope: number; // units per hour
  lo: number; // 95% confidence interval of the slope, units per hour
  hi: number;
  n: number;
  nEff: number; // samples after the autocorrelation correction
  sd: number; // residual standard deviation, units
}

/**
 * Least-squares slope with a 95% confidence interval. Successive samples of a heap are not
 * independent (a cache filling, a batch of sessions alive across two probes), which makes the plain
 * interval too narrow; the residuals' lag-1 autocorrelation r shrinks the sample count to
 * n·(1−r)/(1+r), the usual AR(1) correction, before the interval is taken.
 */
export function trend(points: { t: number; y: number }[]): Trend {
  const n = points.length;
  const nan = { slope: NaN, lo: NaN, hi: NaN, n, nEff: NaN, sd: NaN };
  if (n < 4) return nan;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.t - mt) * (p.y - my);
    sxx += (p.t - mt) ** 2;
  }
  if (sxx === 0) return nan;
  const b = sxy / sxx;
  const res = points.map((p) => p.y - my - b * (p.t - mt));
  const sse = res.reduce((a, e) => a + e * e, 0);
  let lag = 0;
  for (let i = 1; i < n; i++) lag += res[i] * res[i - 1];
  const r = sse === 0 ? 0 : Math.min(0.95, Math.max(0, lag / sse));
  const nEff = Math.max(3, (n * (1 - r)) / (1 + r));
  const se = Math.sqrt(sse / (n - 2) / sxx) * Math.sqrt(n / nEff);
  const half = t975(Math.max(1, nEff - 2)) * se;
  return { slope: b * 3600, lo: (b - half) * 3600, hi: (b + half) * 3600, n, nEff, sd: Math.sqrt(sse / (n - 2)) };
}

export function verdict(tr: Trend, goal: number): string {
  if (!Number.isFinite(tr.hi)) return "no verdict (too few samples)";
  if (tr.hi <= goal) return `flat: the whole 95% interval is ≤ ${goal} MB/h`;
  if (tr.lo > goal) return `GROWING: the whole 95% interval is > ${goal} MB/h`;
  return `inconclusive at this length: the 95% interval spans ${goal} MB/h`;
}

export const fmtTrend = (tr: Trend) =>
  `${fmt(tr.slope, 2)} MB/h (95% CI ${fmt(tr.lo, 2)} … ${fmt(tr.hi, 2)}; ${tr.n} probes, ~${fmt(tr.nEff, 0)} independent, residual sd ${fmt(tr.sd * 1024, 0)} KB)`;

/** Post-GC heap at a quiet moment (nothing connected but the publisher): `n` probes a second apart. */
export interface QuietHeap {
  t: number; // s, performance.now() / 1000 at the first probe
  mean: number;
  sd: number;
  n: number;
}

export async function quietHeap(gc: GcProber, n = 3): Promise<QuietHeap | undefined> {
  const t = performance.now() / 1000;
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = await gc.probe();
    if (p) ys.push(p.heapMb);
    if (i + 1 < n) await sleep(1000);
  }
  if (ys.length === 0) return undefined;
  const mean = ys.reduce((a, y) => a + y, 0) / ys.length;
  const sd = ys.length > 1 ? Math.sqrt(ys.reduce((a, y) => a + (y - mean) ** 2, 0) / (ys.length - 1)) : NaN;
  return { t, mean, sd, n: ys.length };
}

/**
 * The heap's change per hour between two quiet moments, with a 95% interval from the spread of
 * each moment's probes. Between quiet moments the sessions' own memory is gone, so what remains is
 * what the churn left behind — the stalled readers' multi-MB swings included, which make the trend
 * over the phase itself unreadable.
 */
export function quietDrift(a: QuietHeap, b: QuietHeap): Trend {
  const dt = b.t - a.t;
  const slope = ((b.mean - a.mean) / dt) * 3600;
  // Probes a second apart see one state of the edge and agree within ~20 KB, but two quiet
  // moments a few seconds apart differed by up to 0.19 MB (the end of one phase and the start of
  // the next, measured): each moment counts as one sample with at least 0.1 MB of spread.
  const sa = Math.max(Number.isFinite(a.sd) ? a.sd : 0, 0.1);
  const sb = Math.max(Number.isFinite(b.sd) ? b.sd : 0, 0.1);
  const half = (2 * Math.sqrt(sa * sa + sb * sb) * 3600) / dt;
  return { slope, lo: slope - half, hi: slope + half, n: a.n + b.n, nEff: 2, sd: Math.max(sa, sb) };
}
