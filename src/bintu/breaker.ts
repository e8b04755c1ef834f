// A circuit breaker around the stream source (issue 4 §2, docs/reliability.md §4): during an outage
// calls fail fast instead of each waiting out its deadline, and one probe per cool-down finds
// out when bintu is back — no call storm. A small state machine is all this needs.
//
//   closed ──(N consecutive failures)──▶ open ──(cool-down elapsed, next call)──▶ half_open
//     ▲                                    ▲                                          │
//     └──────────── probe succeeds ────────┼──────────── probe fails ◀────────────────┘

export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  failures: number;
  cooldownMs: number;
  now: () => number;
  onState?: (state: BreakerState) => void;
}

export class CircuitBreaker {
  private current: BreakerState = "closed";
  private consecutiveFailures = 0;
  private openedAt = 0;

  constructor(private readonly opts: BreakerOptions) {}

  get state(): BreakerState {
    return this.current;
  }

  /**
   * Whether a call may go out now. Open: no, until the cool-down has passed; then this call
   * becomes the one probe (half_open) and every other caller keeps failing fast until it ends.
   */
  tryAcquire(): boolean {
    if (this.current === "closed") return true;
    if (this.current === "half_open") return false;
    if (this.opts.now() - this.openedAt < this.opts.cooldownMs) return false;
    this.set("half_open");
    return true;
  }

  /** Any success is evidence the source works, even from a call started before the breaker opened. */
  success(): void {
    this.consecutiveFailures = 0;
    this.set("closed");
  }

  failure(): void {
    if (this.current === "half_open") return this.open();
    // A late failure of a call started before the breaker opened does not extend the cool-down.
    if (this.current === "open") return;
    if (++this.consecutiveFailures >= this.opts.failures) this.open();
  }

  /**
   * A call that ended without telling anything about the source (the caller gave up). A probe
   * ending so must not leave the breaker half-open forever: back to open, cool-down already
   * elapsed, so the next call probes again.
   */
  release(): void {
    if (this.current === "half_open") this.set("open");
  }

  private open(): void {
    this.openedAt = this.opts.now();
    this.set("open");
  }

  private set(state: BreakerState): void {
    if (state === this.current) return;
    this.current = state;
    this.opts.onState?.(state);
  }
}
