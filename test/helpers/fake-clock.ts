// A manual clock for the Clock port (src/access/ports.ts): time moves only when a test says so,
// and timers due by then fire in order — expiry and grace are tested without sleeping.
import type { Clock, Timer } from "../../src/access/ports.js";

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private nowMs: number;
  private seq = 0;
  private readonly timers = new Map<Timer, Pending>();

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.nowMs = startMs;
  }

  now = (): number => this.nowMs;

  setTimer = (fn: () => void, ms: number): Timer => {
    const handle = { id: ++this.seq };
    this.timers.set(handle, { at: this.nowMs + Math.max(0, ms), seq: this.seq, fn });
    return handle;
  };

  clearTimer = (timer: Timer): void => {
    this.timers.delete(timer);
  };

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer due on the way (also those set while firing). */
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      let next: [Timer, Pending] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at > target) continue;
        if (!next || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[1].seq < next[1].seq)) next = entry;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.nowMs = next[1].at;
      next[1].fn();
    }
    this.nowMs = target;
  }
}
