// One edge's replica of the fleet's change log (issue 12 "Part log"): every record the fleet
// shares, in memory, so decisions never wait on Redis. It tails the log in order (seq = applied + 1
// is applied, ≤ applied skipped, a jump is a gap → the snapshot), follows Redis through freezes,
// kills and empty restarts (an empty Redis is seeded back from this replica), and persists itself
// to the data dir so a cold start without Redis still knows the last state.
//
// Each record kind (`rule`, `revoke`, `stream`, `key`) has one handler that mirrors the records into
// the edge's local stores (src/cluster/fleet-rules.ts and the wiring in src/server.ts).
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { EdgeError } from "../errors.js";
import type { Logger } from "../log.js";
import { ChangeLog, EpochError, type LogEntry, type StateRecord } from "./change-log.js";
import type { RedisLink } from "./redis.js";

/** A fleet write that could not be committed (Redis down, past the deadline, or not yet synced): nothing changed. */
export class ClusterUnavailableError extends EdgeError {
  override name = "ClusterUnavailableError";
  constructor(detail?: string) {
    super("EDGE_ERR_CLUSTER_UNAVAILABLE", detail);
  }
}

export interface KindHandler {
  /** A record of this kind changed (value null = deleted). Must not throw; it runs in the tail loop. */
  apply(id: string, value: unknown): void;
  /** After a cold start or a snapshot: the ids the fleet has; drop local copies of others. */
  present?(ids: ReadonlySet<string>): void;
  /** The local store's records, used only when no persisted replica exists (the edge joins a fleet). */
  local?(): Iterable<[string, unknown]>;
}

export interface ReplicaEvents {
  /** A change was applied from the log, `delayMs` after its commit. */
  applied?(delayMs: number): void;
  /** The replica loaded the snapshot (gap, another epoch, an empty Redis seeded by another edge). */
  snapshot?(): void;
}

export interface ReplicaOptions {
  link: RedisLink;
  log: Logger;
  /** The persisted replica (JSON); absent = memory only. */
  file?: string;
  /** The deadline of a read past its BLOCK time (cluster.commandTimeoutMs). */
  commandTimeoutMs: number;
  /** XREAD BLOCK (default 1000 ms). */
  blockMs?: number;
  /** How long post() waits to see its own change applied (default 2000 ms). */
  applyWaitMs?: number;
  events?: ReplicaEvents;
  now?: () => number;
  /**
   * Whether a record has expired (src/cluster/prune.ts): an expired record this replica holds and
   * Redis lacks is not posted back after Redis lost its data; the pruner deletes the others.
   */
  expired?: (key: string, value: unknown, nowMs: number) => boolean;
}

export interface ReplicaStatus {
  connected: boolean;
  epoch: string | null;
  applied: number;
  /** The highest seq this replica has seen Redis give out. */
  redisSeq: number;
  lag: number;
  staleSeconds: number;
}

interface Persisted {
  epoch: string | null;
  mark: string | null;
  applied: number;
  records: [string, number, unknown][];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export const kindOf = (key: string) => key.slice(0, key.indexOf(":"));

export class Replica {
  readonly log: ChangeLog;
  private epoch: string | null = null;
  private mark: string | null = null;
  private applied = 0;
  private redisSeq = 0;
  private readonly records = new Map<string, StateRecord>();
  private readonly handlers = new Map<string, KindHandler>();
  private readonly waiters = new Set<{ seq: number; resolve: () => void }>();
  private synced = false;
  private readonly syncedListeners = new Set<() => void>();
  /** Redis's clock minus this edge's, measured on every sync. */
  private clockOffset = 0;
  private closed = false;
  private lastHeard: number;
  private loop: Promise<void> | null = null;
  private persistTimer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly offUp: () => void;

  constructor(private readonly opts: ReplicaOptions) {
    this.log = new ChangeLog(opts.link);
    this.now = opts.now ?? Date.now;
    this.lastHeard = this.now();
    // Every reconnect re-reads the epoch: Redis may have come back empty or been replaced.
    this.offUp = opts.link.onUp((up) => {
      if (!up) this.markUnsynced();
    });
  }

  /** Registers the handler of one record kind; before start(). */
  on(kind: string, handler: KindHandler): void {
    this.handlers.set(kind, handler);
  }

  /** Loads the persisted replica (or the local stores), hands every record to its handler, starts tailing. */
  start(): void {
    this.load();
    for (const [key, r] of this.records) this.handle(key, r.value);
    this.present();
    this.loop = this.run();
  }

  get(key: string): unknown {
    return this.records.get(key)?.value;
  }

  /** The records of one kind, by id. */
  entries(kind: string): [string, unknown][] {
    const prefix = `${kind}:`;
    return [...this.records].filter(([k]) => k.startsWith(prefix)).map(([k, r]) => [k.slice(prefix.length), r.value]);
  }

  /**
   * Commits a change to the fleet and resolves once this replica has applied it (or after
   * applyWaitMs: the change is committed either way and arrives in order). Rejects with
   * ClusterUnavailableError when it could not be committed: nothing changed.
   */
  async post(key: string, value: unknown): Promise<void> {
    if (!this.synced || this.epoch === null || !this.opts.link.up()) throw new ClusterUnavailableError("the fleet's Redis is not reachable");
    let seq: number;
    try {
      seq = await this.log.change(this.epoch, key, value, this.now(), this.redisDeadline());
    } catch (err) {
      if (err instanceof EpochError) this.markUnsynced();
      throw new ClusterUnavailableError((err as Error).message);
    }
    await this.appliedUpTo(seq);
  }

  /**
   * Deletes a record fleet-wide, but only the version this replica holds (see ChangeLog.prune): safe
   * when several edges prune at once or one re-adds the record meanwhile. Resolves with whether this
   * call deleted it (after this replica applied the delete); rejects with ClusterUnavailableError.
   */
  async prune(key: string): Promise<boolean> {
    const record = this.records.get(key);
    if (record === undefined) return false;
    if (!this.synced || this.epoch === null || !this.opts.link.up()) throw new ClusterUnavailableError("the fleet's Redis is not reachable");
    let seq: number;
    try {
      seq = await this.log.prune(this.epoch, key, record.seq, this.now(), this.redisDeadline());
    } catch (err) {
      if (err instanceof EpochError) this.markUnsynced();
      throw new ClusterUnavailableError((err as Error).message);
    }
    if (seq === 0) return false;
    await this.appliedUpTo(seq);
    return true;
  }

  status(): ReplicaStatus {
    const connected = this.synced && this.opts.link.up();
    const redisSeq = Math.max(this.redisSeq, this.applied);
    return {
      connected,
      epoch: this.epoch,
      applied: this.applied,
      redisSeq,
      lag: redisSeq - this.applied,
      staleSeconds: connected ? 0 : Math.max(0, (this.now() - this.lastHeard) / 1000),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.offUp();
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
    await this.loop;
    if (this.persistTimer) {
      clearTimeout(this.persistTimer);
      this.persist();
    }
  }

  /**
   * Redis's time past which a change is refused by the script: half the command deadline from now,
   * so a change that runs in time also answers in time (the other half is for the reply).
   */
  private redisDeadline(): number {
    return Date.now() + this.clockOffset + this.opts.commandTimeoutMs / 2;
  }

  private markUnsynced(): void {
    if (this.synced) this.lastHeard = this.now();
    this.synced = false;
  }

  private appliedUpTo(seq: number): Promise<void> {
    if (this.applied >= seq) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { seq, resolve: () => (clearTimeout(timer), this.waiters.delete(waiter), resolve()) };
      const timer = setTimeout(waiter.resolve, this.opts.applyWaitMs ?? 2_000);
      this.waiters.add(waiter);
    });
  }

  private async run(): Promise<void> {
    const blockMs = this.opts.blockMs ?? 1_000;
    while (!this.closed) {
      if (!this.opts.link.up()) {
        await sleep(100);
        continue;
      }
      try {
        if (!this.synced) await this.sync();
        const entries = await this.log.read(this.applied, blockMs, 1_000, this.opts.commandTimeoutMs + 500);
        if (this.closed) break;
        this.lastHeard = this.now();
        await this.receive(entries);
      } catch (err) {
        if (this.closed) break;
        this.opts.log.debug("fleet replica: read failed", { error: (err as Error).message });
        this.markUnsynced();
        await sleep(200);
      }
    }
  }

  /** What the tail does with a batch read from the log, in order (public for the ordering tests). */
  async receive(entries: readonly LogEntry[]): Promise<void> {
    for (const entry of entries) {
      if (entry.seq <= this.applied) continue; // seen already: never applied twice
      if (entry.seq > this.applied + 1) {
        // A gap: the log was trimmed past us, or Redis was reseeded. The snapshot is whole.
        await this.sync(true);
        return;
      }
      this.apply(entry);
    }
  }

  /**
   * (Re)joins the log: an empty Redis is seeded from this replica; the same epoch and mark continue
   * from `applied`; anything else loads the snapshot and re-posts what this replica has and Redis lacks.
   */
  private async sync(gap = false): Promise<void> {
    this.clockOffset = await this.log.clockOffset();
    const head = await this.log.head();
    if (head.epoch === null) {
      const epoch = this.epoch ?? randomUUID();
      const mark = randomUUID();
      const seeded = await this.log.seed(epoch, this.epoch === null ? 0 : this.applied, mark, this.records);
      if (seeded.epoch === epoch && seeded.mark === mark) {
        this.opts.log.info("fleet replica seeded an empty Redis", { epoch, seq: this.applied, records: this.records.size });
        if (this.epoch === null) this.applied = 0;
        this.epoch = epoch;
        this.mark = mark;
        this.redisSeq = this.applied;
        this.becameSynced();
        return;
      }
      return this.reload(true); // another edge seeded first
    }
    const same = head.epoch === this.epoch && head.mark === this.mark;
    this.redisSeq = head.seq;
    if (same && !gap) return this.becameSynced();
    return this.reload(!same);
  }

  private async reload(repost: boolean): Promise<void> {
    const snap = await this.log.snapshot();
    if (snap.epoch === null) return; // emptied meanwhile: the next round seeds it
    const now = this.now();
    const lacking = repost ? [...this.records].filter(([key, r]) => !snap.records.has(key) && !this.opts.expired?.(key, r.value, now)) : [];
    // What Redis lacks stays here while it is re-posted: a revocation or rule never lapses locally.
    const next = new Map(snap.records);
    for (const [key, r] of lacking) next.set(key, r);
    for (const [key, r] of this.records) if (!next.has(key)) this.handle(key, null, r.value);
    for (const [key, r] of next) if (JSON.stringify(this.records.get(key)?.value) !== JSON.stringify(r.value)) this.handle(key, r.value);
    this.records.clear();
    for (const [key, r] of next) this.records.set(key, r);
    this.epoch = snap.epoch;
    this.mark = snap.mark;
    this.applied = snap.seq;
    this.redisSeq = snap.seq;
    this.present();
    this.opts.events?.snapshot?.();
    this.opts.log.info("fleet replica loaded the snapshot", { epoch: snap.epoch, seq: snap.seq, records: snap.records.size, reposting: lacking.length });
    this.becameSynced();
    try {
      for (const [key, r] of lacking) await this.log.change(snap.epoch, key, r.value, this.now(), this.redisDeadline());
    } catch (err) {
      // Not all re-posted: forget the mark, so the next join loads the snapshot and re-posts again.
      this.mark = null;
      throw err;
    }
  }

  /** Told after every (re)join of the log; returns the unsubscribe. */
  onSynced(listener: () => void): () => void {
    this.syncedListeners.add(listener);
    return () => this.syncedListeners.delete(listener);
  }

  private becameSynced(): void {
    this.synced = true;
    for (const listener of this.syncedListeners) listener();
    this.lastHeard = this.now();
    this.resolveWaiters();
    this.schedulePersist();
  }

  private apply(entry: LogEntry): void {
    const previous = this.records.get(entry.key)?.value;
    if (entry.value === null) this.records.delete(entry.key);
    else this.records.set(entry.key, { seq: entry.seq, value: entry.value });
    this.applied = entry.seq;
    this.redisSeq = Math.max(this.redisSeq, entry.seq);
    this.handle(entry.key, entry.value, previous);
    this.opts.events?.applied?.(Math.max(0, this.now() - entry.t));
    this.resolveWaiters();
    this.schedulePersist();
  }

  private handle(key: string, value: unknown, _previous?: unknown): void {
    const kind = kindOf(key);
    try {
      this.handlers.get(kind)?.apply(key.slice(kind.length + 1), value);
    } catch (err) {
      this.opts.log.warn("fleet replica: applying a record failed", { key, error: (err as Error).message });
    }
  }

  private present(): void {
    for (const [kind, handler] of this.handlers) handler.present?.(new Set(this.entries(kind).map(([id]) => id)));
  }

  private resolveWaiters(): void {
    for (const w of [...this.waiters]) if (w.seq <= this.applied) w.resolve();
  }

  private load(): void {
    const file = this.opts.file;
    if (file !== undefined && existsSync(file)) {
      try {
        const p = JSON.parse(readFileSync(file, "utf8")) as Persisted;
        this.epoch = p.epoch;
        this.mark = p.mark;
        this.applied = p.applied;
        for (const [key, seq, value] of p.records) this.records.set(key, { seq, value });
        return;
      } catch (err) {
        this.opts.log.warn("fleet replica: the persisted copy is unreadable; starting from the local stores", { file, error: (err as Error).message });
      }
    }
    // Never joined (or the copy is lost): the local stores' records join the fleet as this edge's.
    for (const [kind, handler] of this.handlers) for (const [id, value] of handler.local?.() ?? []) this.records.set(`${kind}:${id}`, { seq: 0, value });
  }

  private schedulePersist(): void {
    if (this.opts.file === undefined || this.persistTimer) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = null;
      this.persist();
    }, 200);
    this.persistTimer.unref();
  }

  private persist(): void {
    const file = this.opts.file;
    if (file === undefined) return;
    const p: Persisted = { epoch: this.epoch, mark: this.mark, applied: this.applied, records: [...this.records].map(([k, r]) => [k, r.seq, r.value]) };
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(p));
      renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.opts.log.warn("fleet replica: persisting failed", { file, error: (err as Error).message });
    }
  }
}
