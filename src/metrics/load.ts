// This edge's load as routers see it (`GET /v1/load`, issue 7 §3): sessions, media bandwidth and
// CPU. Rates come from samples taken once a second over a sliding window, so every reader —
// however many routers probe, however often — gets the same answer and no reader resets it.
import { availableParallelism } from "node:os";
import type { SessionCounts } from "./metrics.js";

export interface LoadReport {
  sessions: number;
  publishers: number;
  players: number;
  /** Other edges pulling streams published here (issue 13): a relay is not a viewer of this edge. */
  relays: number;
  egressMbps: number;
  ingressMbps: number;
  /** CPU time of this process per second of wall time (1 = one core busy). */
  cpu: number;
  cpuCores: number;
}

interface Sample {
  atMs: number;
  bytesOut: number;
  bytesIn: number;
  cpuMicros: number;
}

export interface LoadSource extends SessionCounts {
  readonly size: number;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

export class LoadMeter {
  private readonly samples: Sample[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly cores = availableParallelism();

  constructor(
    private readonly sessions: LoadSource,
    private readonly opts: { sampleMs?: number; windowSamples?: number } = {},
  ) {
    this.samples.push(this.sample());
    this.timer = setInterval(() => {
      this.samples.push(this.sample());
      if (this.samples.length > (this.opts.windowSamples ?? 5) + 1) this.samples.shift();
    }, opts.sampleMs ?? 1_000);
    this.timer.unref();
  }

  report(): LoadReport {
    const now = this.sample();
    const from = this.samples[0];
    const seconds = (now.atMs - from.atMs) / 1000;
    const rate = (a: number, b: number) => (seconds > 0 ? (a - b) / seconds : 0);
    const publishers = this.sessions.publishers("rtmp");
    const relays = this.sessions.relays();
    return {
      sessions: this.sessions.size,
      publishers,
      players: this.sessions.size - publishers - relays,
      relays,
      egressMbps: round((rate(now.bytesOut, from.bytesOut) * 8) / 1e6, 3),
      ingressMbps: round((rate(now.bytesIn, from.bytesIn) * 8) / 1e6, 3),
      cpu: round(rate(now.cpuMicros, from.cpuMicros) / 1e6, 3),
      cpuCores: this.cores,
    };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private sample(): Sample {
    const cpu = process.cpuUsage();
    return {
      atMs: performance.now(),
      bytesOut: this.sessions.bytes("out"),
      bytesIn: this.sessions.bytes("in"),
      cpuMicros: cpu.user + cpu.system,
    };
  }
}
