// Pruning the fleet's snapshot (issue 12): a revocation or a Guardian rule that has expired is
// refused or ignored by every edge anyway, but its record would stay in `P state` (and in every
// replica, and be re-seeded into an empty Redis) for good. One edge — the one with the lowest id
// among the edges announcing in the registry — deletes expired records through the change log, so
// every replica drops them too; at most PRUNE_BATCH per round, every PRUNE_INTERVAL_MS. Each delete
// is a compare-and-delete on the record's version (Replica.prune): idempotent when two edges both
// think they are the lowest (a registry not read yet), and a record re-added meanwhile is kept.
import type { Logger } from "../log.js";
import { KEEP_AFTER_EXPIRY_SEC } from "../auth/revocations.js";
import { kindOf, type Replica } from "./replica.js";

export const PRUNE_INTERVAL_MS = 60_000;
export const PRUNE_BATCH = 500;

/**
 * When a record may go (ms since the epoch), or undefined for never: a Guardian rule at its
 * `expiresAt`; a revocation when the local RevocationStore drops it too — 24 h after the token's
 * `exp`, as long as nanoStream lets an expired token be revoked (docs/nanostream.md §2.2).
 */
export function expiresAt(key: string, value: unknown): number | undefined {
  const v = value as { expiresAt?: unknown; exp?: unknown } | null;
  if (v === null || typeof v !== "object") return undefined;
  const kind = kindOf(key);
  if (kind === "rule" && typeof v.expiresAt === "number") return v.expiresAt;
  if (kind === "revoke" && typeof v.exp === "number") return (v.exp + KEEP_AFTER_EXPIRY_SEC) * 1000;
  return undefined;
}

export const isExpired = (key: string, value: unknown, nowMs: number): boolean => {
  const at = expiresAt(key, value);
  return at !== undefined && at <= nowMs;
};

export interface FleetPrunerOptions {
  replica: Replica;
  edgeId: string;
  /** The edges announcing now (EdgeRegistry.liveIds); this edge prunes while none has a lower id. */
  liveIds: () => ReadonlySet<string>;
  log: Logger;
  intervalMs?: number;
  batch?: number;
  now?: () => number;
}

export class FleetPruner {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private readonly now: () => number;

  constructor(private readonly opts: FleetPrunerOptions) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => void this.prune(), this.opts.intervalMs ?? PRUNE_INTERVAL_MS);
    this.timer.unref();
  }

  /** Whether this edge prunes: no announcing edge has a lower id. */
  leads(): boolean {
    for (const id of this.opts.liveIds()) if (id < this.opts.edgeId) return false;
    return true;
  }

  /** One round (one at a time); resolves with how many records this edge deleted. */
  prune(): Promise<number> {
    this.running ??= this.round().finally(() => (this.running = null));
    return this.running;
  }

  private async round(): Promise<number> {
    const { replica } = this.opts;
    if (!this.leads() || !replica.status().connected) return 0;
    const now = this.now();
    const due: string[] = [];
    for (const kind of ["rule", "revoke"]) {
      for (const [id, value] of replica.entries(kind)) if (isExpired(`${kind}:${id}`, value, now)) due.push(`${kind}:${id}`);
    }
    let deleted = 0;
    try {
      for (const key of due.slice(0, this.opts.batch ?? PRUNE_BATCH)) if (await replica.prune(key)) deleted++;
    } catch (err) {
      // Redis went away mid-round: the rest waits for the next one.
      this.opts.log.debug("fleet prune stopped", { error: (err as Error).message });
    }
    if (deleted > 0) this.opts.log.info("fleet: expired records pruned", { deleted, due: due.length });
    return deleted;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
