// Active health and load probes of the edges in the routing table (issue 7 §3). Every interval
// each edge's control API answers `GET /readyz` (must be 200) and `GET /v1/load` (sessions,
// egress, CPU); a probe passes when both answer in time. HAProxy-style counters: an up edge goes
// down after `fall` failed probes in a row, a down edge comes back after `rise` passes. The first
// probe of an edge decides its state at once, so a starting router does not wait rise × interval.
import type { EdgeEntry } from "../config/schema.js";
import { readCapped } from "../util/read-capped.js";

export interface EdgeLoad {
  readonly sessions: number;
  readonly egressMbps: number;
  /** CPU time per second of the edge process (1 = one core busy). */
  readonly cpu: number;
}

export interface HealthOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  /** An edge changed between up and down (for logs and metrics). */
  readonly onTransition?: (edge: EdgeEntry, up: boolean, why: string) => void;
  /** The fetch that trusts tls.caFile besides the system store (issue 15); default the global one. */
  readonly fetch?: typeof fetch;
}

interface Probed {
  entry: EdgeEntry;
  /** Alive by the fleet registry's announcements (issue 12 §4): up, with the announced load, never probed. */
  announced: boolean;
  up: boolean;
  known: boolean;
  passes: number;
  failures: number;
  load: EdgeLoad;
  lastError: string;
  /** Sessions routed to the edge since its last load report (so a burst of routes sees its own effect). */
  routedSinceReport: number;
}

const NO_LOAD: EdgeLoad = { sessions: 0, egressMbps: 0, cpu: 0 };

// /v1/load answers are small; anything bigger is not ours.
const MAX_LOAD_BYTES = 16 * 1024;

async function getText(url: string, signal: AbortSignal, fetchFn: typeof fetch): Promise<{ status: number; text: string }> {
  const res = await fetchFn(url, { signal, redirect: "manual", headers: { accept: "application/json" } });
  return { status: res.status, text: await readCapped(res, MAX_LOAD_BYTES) };
}

const finiteAtLeast0 = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** Parses a `/v1/load` body; throws with the reason when it is not one. */
export function parseLoad(text: string): EdgeLoad {
  const body = JSON.parse(text) as Record<string, unknown>;
  const { sessions, egressMbps, cpu } = body ?? {};
  if (!finiteAtLeast0(sessions) || !finiteAtLeast0(egressMbps) || !finiteAtLeast0(cpu)) throw new Error("not a load report");
  return { sessions, egressMbps, cpu };
}

export class HealthChecker {
  private probed: Probed[] = [];
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private closed = false;
  private started = false;
  private readonly aborts = new Set<AbortController>();
  /** What select() reads, by table index: kept current on every probe, table change and route. */
  status: { healthy: Uint8Array; load: Float64Array } = { healthy: new Uint8Array(0), load: new Float64Array(0) };

  constructor(private readonly opts: HealthOptions) {}

  /**
   * Replaces the table; edges whose id and API URL stay keep their state. Index = table index.
   * `announced` edges take the load they announced and count as up (their registry entry expires
   * when they stop announcing); an edge no longer announced (the registry cannot be read) is probed.
   */
  setEdges(edges: readonly EdgeEntry[], announced?: ReadonlyMap<string, EdgeLoad>): void {
    const old = new Map(this.probed.map((p) => [`${p.entry.id}\0${p.entry.api}`, p]));
    const fresh: Probed[] = [];
    this.probed = edges.map((entry) => {
      const load = announced?.get(entry.id);
      let p = old.get(`${entry.id}\0${entry.api}`);
      if (p) {
        p.entry = entry; // same edge, new details (capacity, weight, drain)
      } else {
        // Unprobed edges (no API URL) are taken as configured: up, no load.
        p = {
          entry,
          announced: false,
          up: entry.api === "",
          known: entry.api === "",
          passes: 0,
          failures: 0,
          load: NO_LOAD,
          lastError: "",
          routedSinceReport: 0,
        };
      }
      if (load) this.announce(p, load);
      else if (p.announced) {
        p.announced = false;
        p.passes = p.failures = 0;
        if (entry.api !== "") fresh.push(p);
      } else if (!p.known && entry.api !== "" && !old.has(`${entry.id}\0${entry.api}`)) fresh.push(p);
      return p;
    });
    // An edge added to a running table is probed now rather than at the next round.
    if (this.started && !this.closed) for (const p of fresh) void this.probe(p);
    this.status = { healthy: Uint8Array.from(this.probed, (p) => (p.up ? 1 : 0)), load: Float64Array.from(this.probed, (p) => this.ratioOf(p)) };
  }

  /** Probes every edge once (awaited), then keeps probing every interval. */
  async start(): Promise<void> {
    this.started = true;
    await this.probeAll();
    if (this.closed) return;
    const tick = () => {
      this.timer = setTimeout(() => {
        void this.probeAll().then(() => {
          if (!this.closed) tick();
        });
      }, this.opts.intervalMs);
      this.timer.unref();
    };
    tick();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const a of this.aborts) a.abort();
    await this.round;
  }

  private announce(p: Probed, load: EdgeLoad): void {
    const first = !p.known || !p.up;
    // The same report read twice (registry reads outpace announcements) keeps the routes counted since.
    if (p.load !== load) p.routedSinceReport = 0;
    Object.assign(p, { announced: true, up: true, known: true, load, lastError: "" });
    if (first) this.opts.onTransition?.(p.entry, true, "announced");
  }

  /** The router sent a client to this edge: count it until the edge's next load report. */
  noteRouted(index: number): void {
    const p = this.probed[index];
    if (!p) return;
    p.routedSinceReport++;
    this.status.load[index] = this.ratioOf(p);
  }

  snapshot(): { id: string; up: boolean; load: EdgeLoad; loadRatio: number; lastError: string; announced: boolean }[] {
    return this.probed.map((p) => ({ id: p.entry.id, up: p.up, load: p.load, loadRatio: this.ratioOf(p), lastError: p.lastError, announced: p.announced }));
  }

  /** Load as a fraction of the edge's capacity (the larger of sessions and egress); 0 without one. */
  private ratioOf(p: Probed): number {
    const { sessions: capSessions, egressMbps: capMbps } = p.entry.capacity;
    let ratio = 0;
    if (capSessions !== undefined) ratio = (p.load.sessions + p.routedSinceReport) / capSessions;
    if (capMbps !== undefined) ratio = Math.max(ratio, p.load.egressMbps / capMbps);
    return ratio;
  }

  private probeAll(): Promise<void> {
    this.round = Promise.all(this.probed.filter((p) => p.entry.api !== "" && !p.announced).map((p) => this.probe(p))).then(() => {});
    return this.round;
  }

  private async probe(p: Probed): Promise<void> {
    const abort = new AbortController();
    this.aborts.add(abort);
    const deadline = setTimeout(() => abort.abort(new Error(`no answer within ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
    const base = p.entry.api.replace(/\/+$/, "");
    let error = "";
    let load: EdgeLoad | null = null;
    try {
      const get = (path: string) => getText(`${base}${path}`, abort.signal, this.opts.fetch ?? fetch);
      const [ready, report] = await Promise.all([get("/readyz"), get("/v1/load")]);
      if (ready.status !== 200) error = `/readyz answered ${ready.status}`;
      else if (report.status !== 200) error = `/v1/load answered ${report.status}`;
      else load = parseLoad(report.text);
    } catch (err) {
      error = abort.signal.aborted ? String((abort.signal.reason as Error)?.message ?? "aborted") : (err as Error).message;
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      if (cause) error = cause;
    } finally {
      clearTimeout(deadline);
      this.aborts.delete(abort);
    }
    // Closed, the edge left the table, or it is announced now: the probe's answer is not needed.
    if (this.closed || !this.probed.includes(p) || p.announced) return;
    this.record(p, load, error);
  }

  private record(p: Probed, load: EdgeLoad | null, error: string): void {
    const wasUp = p.up;
    if (load) {
      p.load = load;
      p.routedSinceReport = 0;
      p.lastError = "";
      p.passes++;
      p.failures = 0;
      if (!p.known || p.passes >= this.opts.rise) p.up = true;
    } else {
      p.lastError = error;
      p.failures++;
      p.passes = 0;
      if (!p.known || p.failures >= this.opts.fall) p.up = false;
    }
    const first = !p.known;
    p.known = true;
    const index = this.probed.indexOf(p);
    this.status.healthy[index] = p.up ? 1 : 0;
    this.status.load[index] = this.ratioOf(p);
    if (first || wasUp !== p.up) this.opts.onTransition?.(p.entry, p.up, load ? "probe passed" : error);
  }
}
