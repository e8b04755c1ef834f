// The stream directory (DESIGN.md §1 src/bintu): `lookup(name)` answers from an lru-cache in front
// of a stream source — the embedded registry now, a remote bintu later (issue 4). lru-cache's
// fetch gives one in-flight request per key; entries for unknown names live shorter.
import { LRUCache } from "lru-cache";
import { EdgeError } from "../errors.js";

export type StreamState = "created" | "live" | "ended" | "locked" | "deleted";

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

export interface DirectoryOptions {
  ttlMs: number;
  negativeTtlMs: number;
  maxEntries: number;
}

type Entry = { stream: StreamInfo | null };

export class StreamDirectory {
  private readonly cache: LRUCache<string, Entry>;

  constructor(
    private readonly source: StreamSource,
    options: DirectoryOptions,
  ) {
    this.cache = new LRUCache<string, Entry>({
      max: options.maxEntries,
      ttl: options.ttlMs,
      fetchMethod: async (name, _stale, { signal, options: fetchOptions }) => {
        const stream = await source.findByName(name, signal);
        if (!stream) fetchOptions.ttl = options.negativeTtlMs;
        return { stream };
      },
    });
  }

  /** The stream named `name`, or null when the directory does not know it. */
  async lookup(name: string): Promise<StreamInfo | null> {
    let entry: Entry | undefined;
    try {
      entry = await this.cache.fetch(name);
    } catch (err) {
      throw new EdgeError("EDGE_ERR_BINTU_UNAVAILABLE", (err as Error).message);
    }
    if (!entry) throw new EdgeError("EDGE_ERR_BINTU_UNAVAILABLE", "no answer");
    return entry.stream;
  }

  invalidate(name: string): void {
    this.cache.delete(name);
  }

  async reportLive(name: string): Promise<void> {
    this.invalidate(name);
    await this.source.reportLive(name);
  }

  async reportEnded(name: string): Promise<void> {
    this.invalidate(name);
    await this.source.reportEnded(name);
  }

  /** Subscribes to source changes; the cached entry is dropped before listeners run. */
  onChange(listener: (stream: StreamInfo) => void): () => void {
    return this.source.onChange((stream) => {
      this.invalidate(stream.name);
      listener(stream);
    });
  }
}
