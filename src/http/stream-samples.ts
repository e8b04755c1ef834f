// The history behind a stream page's chart (issue 16 §3: "ingest bitrate and viewer count over the
// last minutes"): every few seconds, each live stream's ingest bitrate (from its publisher's byte
// count) and viewer count, kept for ten minutes. The page opens with this history and goes on with
// its live updates. Bounded by the number of streams kept and of samples per stream.

/** What a sample needs of a running session (src/access/session-table.ts EdgeSession). */
export interface SampledSession {
  readonly role: string;
  readonly name: string;
  bytesIn(): number;
}

export interface StreamSample {
  /** ms since the epoch */
  readonly at: number;
  readonly kbps: number;
  readonly viewers: number;
}

export interface StreamSamplesOptions {
  readonly intervalMs?: number;
  readonly keepMs?: number;
  readonly maxStreams?: number;
}

export class StreamSamples {
  private readonly series = new Map<string, StreamSample[]>();
  private lastBytes = new Map<string, { at: number; bytes: number }>();
  private timer: NodeJS.Timeout | undefined;
  readonly intervalMs: number;
  private readonly keepMs: number;
  private readonly maxStreams: number;

  constructor(
    private readonly sessions: () => Iterable<SampledSession>,
    opts: StreamSamplesOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 5000;
    this.keepMs = opts.keepMs ?? 10 * 60_000;
    this.maxStreams = opts.maxStreams ?? 1000;
  }

  start(): void {
    this.timer ??= setInterval(() => this.sample(Date.now()), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round: a sample for every stream with a publisher now. */
  sample(now: number): void {
    const bytes = new Map<string, { at: number; bytes: number }>();
    const viewers = new Map<string, number>();
    for (const s of this.sessions()) {
      if (s.role === "publisher") bytes.set(s.name, { at: now, bytes: s.bytesIn() });
      else if (s.role === "player") viewers.set(s.name, (viewers.get(s.name) ?? 0) + 1);
    }
    for (const [name, cur] of bytes) {
      const prev = this.lastBytes.get(name);
      // A new publisher (or a counter that went back: a new session) has no rate yet.
      const kbps = prev && cur.at > prev.at && cur.bytes >= prev.bytes ? ((cur.bytes - prev.bytes) * 8) / (cur.at - prev.at) : 0;
      let list = this.series.get(name);
      if (!list) {
        if (this.series.size >= this.maxStreams) continue;
        this.series.set(name, (list = []));
      }
      list.push({ at: now, kbps, viewers: viewers.get(name) ?? 0 });
    }
    this.lastBytes = bytes;
    for (const [name, list] of this.series) {
      while (list.length > 0 && list[0].at <= now - this.keepMs) list.shift();
      if (list.length === 0) this.series.delete(name);
    }
  }

  of(name: string): readonly StreamSample[] {
    return this.series.get(name) ?? [];
  }
}
