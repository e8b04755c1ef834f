// Brute-force friction for stream keys (issue 4 §5, docs/reliability.md §2 and §4): failed publishes
// are counted per client IP in a token bucket; an IP that empties its bucket is refused for a
// cool-down without any bintu lookup, so key scanning costs the scanner time and bintu nothing.
// MediaMTX pauses 2 s after each failure; a bucket lets honest retries (a typo, a reconnect loop
// on a locked key) through and stops a scan within `maxPerMinute` tries.
import { LRUCache } from "lru-cache";

export interface PublishLimiterOptions {
  /** Failures an IP may have per minute (the bucket size; it refills at this rate). */
  maxPerMinute: number;
  cooldownMs: number;
  /** IPs tracked at once; the least recently failing are forgotten first. */
  maxEntries?: number;
}

export interface PublishLimiterStats {
  /** Failures recorded. */
  failures: number;
  /** Times an IP emptied its bucket and was blocked. */
  blocks: number;
  /** Publishes refused because the IP was blocked (no lookup made). */
  refusals: number;
  /** IPs currently tracked (≤ maxEntries). */
  tracked: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date. */
  at: number;
  blockedUntil: number;
}

const MINUTE_MS = 60_000;

export class PublishLimiter {
  // Bounded: a scan from many addresses evicts the oldest entries instead of growing memory.
  // An evicted IP starts again with a full bucket — acceptable, its cool-down is short anyway.
  private readonly buckets: LRUCache<string, Bucket>;
  private readonly perMs: number;
  private counts = { failures: 0, blocks: 0, refusals: 0 };

  constructor(private readonly opts: PublishLimiterOptions) {
    this.buckets = new LRUCache({ max: opts.maxEntries ?? 100_000 });
    this.perMs = opts.maxPerMinute / MINUTE_MS;
  }

  /** Whether a publish from `ip` is refused now, before any lookup; counts the refusal. */
  blocked(ip: string, now: number): boolean {
    const b = this.buckets.peek(ip);
    if (!b || b.blockedUntil <= now) return false;
    this.counts.refusals++;
    return true;
  }

  /** A publish from `ip` failed (unknown, locked or malformed key, webhook refusal…). */
  recordFailure(ip: string, now: number): void {
    this.counts.failures++;
    const b = this.buckets.get(ip) ?? { tokens: this.opts.maxPerMinute, at: now, blockedUntil: 0 };
    b.tokens = Math.min(this.opts.maxPerMinute, b.tokens + Math.max(0, now - b.at) * this.perMs) - 1;
    b.at = now;
    if (b.tokens < 1 && b.blockedUntil <= now) {
      b.blockedUntil = now + this.opts.cooldownMs;
      this.counts.blocks++;
    }
    this.buckets.set(ip, b);
  }

  stats(): PublishLimiterStats {
    return { ...this.counts, tracked: this.buckets.size };
  }
}
