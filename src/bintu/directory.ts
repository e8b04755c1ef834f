// The stream directory (docs/architecture.md §1 src/bintu): `lookup(name)` answers from an lru-cache in front
// of a stream source — the embedded registry or a remote bintu (issue 4). lru-cache's fetch gives
// the TTLs, one in-flight request per key and the memory bound; this file adds what it lacks:
// stale-if-error within a bounded window (RFC 5861), fail-closed for keys never validated, and a
// circuit breaker so an outage costs no call storm (docs/reliability.md §4).
import { LRUCache } from "lru-cache";
import { EdgeError } from "../errors.js";
import { CircuitBreaker, type BreakerState } from "./breaker.js";

export type StreamState = "created" | "live" | "ended" | "locked" | "deleted";
export type { BreakerState } from "./breaker.js";

export interface StreamInfo {
  readonly id: string;
  readonly name: string;
  readonly state: StreamState;
  readonly tags: readonly string[];
}

/** Where stream state comes from. Implementations do I/O; the directory caches. */
export interface StreamSource {
  findByName(name: string, signal: AbortSignal): Promise<StreamInfo | null>;
  /** The edge tells the stream manager a publish started / ended (bintu state live / ended). */
  reportLive(name: string): Promise<void>;
  reportEnded(name: string): Promise<void>;
  /** Pushes changes (lock, delete, …) so live sessions can be re-decided at once. */
  onChange(listener: (stream: StreamInfo) => void): () => void;
}

/**
 * Where an answer came from: a fresh cached stream ("cache"), a fresh cached "unknown"
 * ("negative"), the source just now ("bintu", stream or null), or a previously validated stream
 * served because the source failed ("stale" — the counter Envoy calls failure_mode_allowed).
 */
export type LookupSource = "cache" | "negative" | "bintu" | "stale";

export interface Lookup {
  readonly stream: StreamInfo | null;
  readonly source: LookupSource;
}

/** Hooks for metrics; every one is optional and must not throw. */
export interface DirectoryEvents {
  /** One per resolve: where the answer came from, or "error" when it failed closed. */
  lookup?(source: LookupSource | "error"): void;
  breaker?(state: BreakerState): void;
}

export interface DirectoryOptions {
  ttlMs: number;
  negativeTtlMs: number;
  maxEntries: number;
  /** How long a validated stream may be served while the source fails; 0 (default) = never. */
  staleIfErrorMs?: number;
  /** Consecutive source failures that open the breaker; absent = no breaker (embedded mode). */
  breakerFailures?: number;
  breakerCooldownMs?: number;
  /**
   * Monotonic milliseconds for TTLs, the stale window and the breaker (tests inject a fake one).
   * Must stay > 0: lru-cache reads a start time of 0 as "no TTL".
   */
  now?: () => number;
  events?: DirectoryEvents;
}

interface Entry {
  readonly stream: StreamInfo | null;
  /** When the source last confirmed this answer: the stale window counts from here. */
  readonly validatedAt: number;
  /** Served from an earlier answer because the source failed. */
  readonly stale: boolean;
}

export class StreamDirectory {
  private readonly cache: LRUCache<string, Entry>;
  private readonly breaker: CircuitBreaker | undefined;
  private readonly now: () => number;
  private readonly events: DirectoryEvents;

  constructor(
    private readonly source: StreamSource,
    private readonly options: DirectoryOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.events = options.events ?? {};
    this.breaker =
      options.breakerFailures === undefined
        ? undefined
        : new CircuitBreaker({
            failures: options.breakerFailures,
            cooldownMs: options.breakerCooldownMs ?? 5_000,
            now: this.now,
            onState: (state) => this.events.breaker?.(state),
          });
    this.cache = new LRUCache<string, Entry>({
      max: options.maxEntries,
      ttl: options.ttlMs,
      // Expired entries stay until the LRU evicts them (no autopurge): that is what keeps the
      // last good answer reachable for stale-if-error, inside the same `max` bound.
      perf: { now: this.now },
      // Read the clock on every check instead of lru-cache's 1 ms debounce timer, so an
      // injected clock is seen at once.
      ttlResolution: 0,
      fetchMethod: (name, previous, { signal, options: set }) => this.load(name, previous, signal, set),
    });
  }

  /** The stream named `name`, or null when the directory does not know it; throws EdgeError. */
  async lookup(name: string): Promise<StreamInfo | null> {
    return (await this.resolve(name)).stream;
  }

  /**
   * `lookup` with where the answer came from. `fresh` skips a fresh cached entry and asks the
   * source (re-validation of live sessions); it still joins a request already in flight, and
   * still falls back to the stale window when the source fails.
   */
  async resolve(name: string, opts: { fresh?: boolean } = {}): Promise<Lookup> {
    // A fresh entry answers synchronously: lru-cache's async fetch machinery would double the
    // cost of a warm decision (bench/bintu.ts). An expired entry is kept for stale-if-error.
    const hit = opts.fresh ? undefined : this.cache.get(name, { noDeleteOnStaleGet: true });
    const { entry, fetched } = hit && !hit.stale ? { entry: hit, fetched: false } : await this.fetch(name, opts.fresh === true);
    const source: LookupSource = entry.stale ? "stale" : fetched ? "bintu" : entry.stream ? "cache" : "negative";
    this.events.lookup?.(source);
    return { stream: entry.stream, source };
  }

  private async fetch(name: string, fresh: boolean): Promise<{ entry: Entry; fetched: boolean }> {
    const status: LRUCache.Status<string, Entry> = {};
    let entry: Entry | undefined;
    try {
      entry = await this.cache.fetch(name, { forceRefresh: fresh, status });
      // lru-cache still serves an entry at exactly its TTL; a stale answer must not outlive the
      // window by that millisecond, so past it the source is asked again (and fails closed).
      if (entry?.stale && this.staleLeft(entry) <= 0) entry = await this.cache.fetch(name, { forceRefresh: true, status });
    } catch (err) {
      this.events.lookup?.("error");
      throw err instanceof EdgeError ? err : new EdgeError("EDGE_ERR_BINTU_UNAVAILABLE", (err as Error).message);
    }
    if (!entry) {
      // The fetch was aborted (its entry evicted or replaced while in flight).
      this.events.lookup?.("error");
      throw new EdgeError("EDGE_ERR_BINTU_UNAVAILABLE", "no answer");
    }
    return { entry, fetched: status.fetch !== "hit" };
  }

  /** Breaker state for metrics ("closed" when there is no breaker). */
  get breakerState(): BreakerState {
    return this.breaker?.state ?? "closed";
  }

  /** Entries held, fresh or expired: never above `maxEntries`. */
  get size(): number {
    return this.cache.size;
  }

  invalidate(name: string): void {
    this.cache.delete(name);
  }

  // No invalidation here: in embedded mode the registry's change event (onChange below) drops the
  // entry; in remote mode bintu owns the state and these are no-ops, and dropping the entry would
  // throw away the last good answer that stale-if-error needs.
  async reportLive(name: string): Promise<void> {
    await this.source.reportLive(name);
  }

  async reportEnded(name: string): Promise<void> {
    await this.source.reportEnded(name);
  }

  /** Subscribes to source changes; the cached entry is dropped before listeners run. */
  onChange(listener: (stream: StreamInfo) => void): () => void {
    return this.source.onChange((stream) => {
      this.invalidate(stream.name);
      listener(stream);
    });
  }

  /** lru-cache's fetchMethod: ask the source through the breaker; on failure, maybe serve stale. */
  private async load(name: string, previous: Entry | undefined, signal: AbortSignal, set: LRUCache.FetcherFetchOptions<string, Entry>): Promise<Entry> {
    if (this.breaker && !this.breaker.tryAcquire()) return this.fallback(previous, set, new Error("circuit open"));
    let stream: StreamInfo | null;
    try {
      stream = await this.source.findByName(name, signal);
    } catch (err) {
      // `signal` is lru-cache's own: it aborts only when the entry is evicted or replaced, which
      // says nothing about the source — the source's deadline is a failure like any other.
      if (signal.aborted) this.breaker?.release();
      else this.breaker?.failure();
      return this.fallback(previous, set, err as Error);
    }
    this.breaker?.success();
    if (!stream) set.ttl = this.options.negativeTtlMs;
    return { stream, validatedAt: this.now(), stale: false };
  }

  /**
   * stale-if-error: a stream validated less than `staleIfErrorMs` ago is served again, marked
   * stale, and cached only until the window closes so the source is retried soon. Unknown names
   * and expired windows fail closed (docs/decisions.md §4).
   */
  private fallback(previous: Entry | undefined, set: LRUCache.FetcherFetchOptions<string, Entry>, err: Error): Entry {
    if (previous?.stream) {
      const left = this.staleLeft(previous);
      if (left > 0) {
        set.ttl = Math.min(this.options.ttlMs, Math.ceil(left)); // never 0: lru-cache reads 0 as "forever"
        return { ...previous, stale: true };
      }
    }
    throw err;
  }

  /** Milliseconds `entry` may still be served stale: it was validated less than staleIfErrorMs ago. */
  private staleLeft(entry: Entry): number {
    return (this.options.staleIfErrorMs ?? 0) - (this.now() - entry.validatedAt);
  }
}
