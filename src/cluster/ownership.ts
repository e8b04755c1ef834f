// One live publisher per stream key in the fleet (issue 12 §2) and the stream locator built on the
// same records (§3). docs/architecture.md §3 has the ports (PublishClaim, StreamLocator); this is
// their Redis adapter.
//
// `P owner:<app>/<name>` = {edge, session, urls, since}, set NX with a 5 s TTL on publish and kept
// alive by its owner every second with a compare-session PEXPIRE. A crashed owner's key expires
// within 5 s. The refresh re-SETs a key that is gone (a Redis that restarted empty) only while the
// session is still live here — a key for a stream this edge no longer has is never kept alive
// (OvenMediaEngine had both bugs: OvenMediaLabs/OvenMediaEngine#1530, #1865). If another edge holds
// the key, the local publisher is ended: a publish allowed while Redis was down, and a Redis
// restart, never leave two owners once Redis answers again.
//
// The locator never waits on Redis: it answers from the session table, then from a local copy of
// every owner record, fed by pub/sub messages on `P owners` and — since pub/sub loses messages
// while a connection is down (redis/redis#3559) — by a full SCAN + MGET on every reconnect and
// every 5 s. Owners on edges that are not in the registry are not believed.
import type { PublishClaim, StreamLocator } from "../access/ports.js";
import type { EdgeUrls, StreamLocation } from "../access/types.js";
import type { ErrorCode } from "../errors.js";
import { streamRef, type Logger } from "../log.js";
import type { RedisLink } from "./redis.js";
import { RedisScript } from "./script.js";

export interface OwnerRecord {
  readonly edge: string;
  readonly session: string;
  readonly urls: EdgeUrls;
  /** Wall-clock ms of the claim. */
  readonly since: number;
}

/** The edge's session table, as ownership needs it. */
export interface LocalSessions {
  get(id: string): { end(code: ErrorCode): void } | undefined;
  locate(app: string, name: string): StreamLocation;
}

export interface OwnershipOptions {
  readonly link: RedisLink;
  readonly edgeId: string;
  /** This edge's URLs, as other edges reach it (read at each claim: the ports are known after start). */
  readonly urls: () => EdgeUrls;
  readonly sessions: LocalSessions;
  /** The edges in the registry now; an owner record naming any other edge is ignored. */
  readonly liveEdges: () => ReadonlySet<string>;
  readonly log: Logger;
  readonly ttlMs?: number;
  readonly refreshMs?: number;
  readonly rescanMs?: number;
  /** A claim whose session is not in the session table this long after the claim is given back. */
  readonly showUpMs?: number;
  /** A local publisher was ended because another edge holds its key. */
  readonly onLost?: () => void;
}

interface Claim {
  readonly app: string;
  readonly name: string;
  readonly session: string;
  readonly record: OwnerRecord;
  readonly json: string;
  /** Monotonic ms of the claim. */
  readonly at: number;
  /** Confirmed by Redis; false while the claim waits for Redis (taken while it was down). */
  held: boolean;
}

// KEYS: owner key, channel. ARGV: record, ttl, edge, the session whose record may be replaced,
// the claim message, "1" = a refresh (the owner's own record only gets its TTL back, no message).
const CLAIM = new RedisScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local ok, cur = pcall(cjson.decode, v)
  if not (ok and type(cur) == 'table' and cur.edge == ARGV[3] and cur.session == ARGV[4]) then return v end
  if ARGV[6] == '1' then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 'OK'
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[5])
return 'OK'
`);

// KEYS: owner key, channel. ARGV: edge, session, the release message. Compare-and-delete.
const RELEASE = new RedisScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, cur = pcall(cjson.decode, v)
if ok and type(cur) == 'table' and cur.edge == ARGV[1] and cur.session == ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[2], ARGV[3])
  return 1
end
return 0
`);

const NOWHERE: StreamLocation = { at: "nowhere" };

/** An owner record from Redis or a message; null for anything else. */
export function parseOwner(value: unknown): OwnerRecord | null {
  if (typeof value !== "string") return null;
  try {
    const r = JSON.parse(value) as Partial<OwnerRecord>;
    if (typeof r?.edge !== "string" || typeof r.session !== "string" || typeof r.since !== "number") return null;
    const urls = typeof r.urls === "object" && r.urls !== null ? r.urls : {};
    return { edge: r.edge, session: r.session, urls, since: r.since };
  } catch {
    return null;
  }
}

export class StreamOwnership implements PublishClaim, StreamLocator {
  private readonly link: RedisLink;
  private readonly ttlMs: number;
  private readonly showUpMs: number;
  private readonly channel: string;
  /** This edge's claims by `app/name`. */
  private readonly claims = new Map<string, Claim>();
  /** The fleet's owner records by `app/name`, as last heard. */
  private owners = new Map<string, OwnerRecord>();
  private readonly timers: NodeJS.Timeout[];
  private readonly offUp: () => void;
  private readonly releasing = new Set<Promise<unknown>>();
  private refreshing = false;
  private scanning = false;
  private subscribed = false;
  private closed = false;

  constructor(private readonly opts: OwnershipOptions) {
    this.link = opts.link;
    this.ttlMs = opts.ttlMs ?? 5_000;
    this.showUpMs = opts.showUpMs ?? 3_000;
    this.channel = this.link.key("owners");
    this.timers = [setInterval(() => void this.refresh(), opts.refreshMs ?? 1_000), setInterval(() => void this.rescan(), opts.rescanMs ?? 5_000)];
    for (const t of this.timers) t.unref();
    this.offUp = this.link.onUp((up) => {
      if (!up) return;
      // Back: settle the claims taken meanwhile and learn what was missed.
      this.subscribe();
      void this.refresh();
      void this.rescan();
    });
    this.subscribe();
  }

  async claim(app: string, name: string, session: string): Promise<"ok" | "busy" | "unavailable"> {
    const path = `${app}/${name}`;
    const record: OwnerRecord = { edge: this.opts.edgeId, session, urls: this.opts.urls(), since: Date.now() };
    const claim: Claim = { app, name, session, record, json: JSON.stringify(record), at: performance.now(), held: false };
    // Redis down: allowed at once (encoders keep working on their edge); the refresh settles it.
    if (!this.link.up()) return this.pending(path, claim);
    let answer: unknown;
    try {
      answer = await this.runClaim(path, claim, session, false);
      const cur = answer === "OK" ? null : parseOwner(answer);
      // This edge's own record of a session that is gone (a quick reconnect before its release landed).
      if (cur && cur.edge === this.opts.edgeId && cur.session !== session && !this.opts.sessions.get(cur.session)) {
        answer = await this.runClaim(path, claim, cur.session, false);
      }
    } catch (err) {
      this.opts.log.debug("fleet claim not answered; publish allowed, settled when Redis answers", { stream: streamRef(name), error: (err as Error).message });
      return this.pending(path, claim);
    }
    if (answer === "OK") {
      claim.held = true;
      this.claims.set(path, claim);
      this.owners.set(path, record);
      return "ok";
    }
    const holder = parseOwner(answer);
    if (holder) this.owners.set(path, holder);
    return "busy";
  }

  private pending(path: string, claim: Claim): "unavailable" {
    this.claims.set(path, claim);
    return "unavailable";
  }

  release(app: string, name: string, session: string): void {
    const path = `${app}/${name}`;
    if (this.claims.get(path)?.session === session) this.claims.delete(path);
    const own = this.owners.get(path);
    if (own?.edge === this.opts.edgeId && own.session === session) this.owners.delete(path);
    // Redis down: the key expires by itself within its TTL.
    if (!this.link.up()) return;
    const message = JSON.stringify({ op: "release", path, edge: this.opts.edgeId, session });
    const done = RELEASE.run(this.link.cmd, [this.ownerKey(path), this.channel], [this.opts.edgeId, session, message])
      .catch((err: Error) => this.opts.log.debug("fleet release not answered; the key expires by itself", { stream: streamRef(name), error: err.message }))
      .finally(() => this.releasing.delete(done));
    this.releasing.add(done);
  }

  /** Here (the session table), on another edge of the fleet (its last known owner record), or nowhere. Never waits. */
  locate(app: string, name: string): StreamLocation {
    const local = this.opts.sessions.locate(app, name);
    if (local.at !== "nowhere") return local;
    const owner = this.owners.get(`${app}/${name}`);
    if (!owner || owner.edge === this.opts.edgeId || !this.opts.liveEdges().has(owner.edge)) return NOWHERE;
    return { at: "edge", edge: owner.edge, urls: owner.urls };
  }

  /** Whether the fleet confirmed this edge's claim of a local publisher's key (false while Redis has not answered). */
  holds(app: string, name: string, session: string): boolean {
    const claim = this.claims.get(`${app}/${name}`);
    return claim !== undefined && claim.session === session && claim.held;
  }

  /** Gives every claim back (best effort, within the command deadline) and stops. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const t of this.timers) clearInterval(t);
    this.offUp();
    this.link.sub.off("ready", this.onSubReady);
    for (const c of [...this.claims.values()]) this.release(c.app, c.name, c.session);
    this.closed = true;
    await Promise.allSettled([...this.releasing]);
  }

  private ownerKey(path: string): string {
    return this.link.key(`owner:${path}`);
  }

  private async runClaim(path: string, claim: Claim, replaceable: string, refresh: boolean): Promise<unknown> {
    const message = JSON.stringify({ op: "claim", path, record: claim.record });
    return CLAIM.run(
      this.link.cmd,
      [this.ownerKey(path), this.channel],
      [claim.json, String(this.ttlMs), this.opts.edgeId, replaceable, message, refresh ? "1" : "0"],
    );
  }

  private subscribe(): void {
    if (this.subscribed || this.closed) return;
    this.subscribed = true;
    // node-redis subscribes again by itself after a reconnect once this succeeded. Whatever was
    // published before the subscription took effect is read by a rescan right after it: an edge
    // that starts while a stream is being claimed elsewhere knows of it at once, not 5 s later.
    this.link.sub.on("ready", this.onSubReady);
    this.link.sub
      .subscribe(this.channel, (message) => this.onMessage(message))
      .then(() => this.rescan())
      .catch((err: Error) => {
        this.subscribed = false;
        this.link.sub.off("ready", this.onSubReady);
        this.opts.log.debug("fleet owners channel not subscribed yet", { error: err.message });
      });
  }

  /** The pub/sub connection is back (its subscriptions restored): read what it missed meanwhile. */
  private readonly onSubReady = () => void this.rescan();

  /** Paths a message changed while a rescan was reading: newer than what the scan read. */
  private touched: Set<string> | null = null;

  private onMessage(message: string): void {
    let m: { op?: unknown; path?: unknown; record?: unknown; edge?: unknown; session?: unknown };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      return;
    }
    if (typeof m.path !== "string") return;
    this.touched?.add(m.path);
    if (m.op === "claim") {
      const record = parseOwner(JSON.stringify(m.record));
      if (record) this.owners.set(m.path, record);
    } else if (m.op === "release") {
      const cur = this.owners.get(m.path);
      if (cur && cur.edge === m.edge && cur.session === m.session) this.owners.delete(m.path);
    }
  }

  /** Every second: keep this edge's keys alive, settle claims taken while Redis was down, give back dead ones. */
  private async refresh(): Promise<void> {
    if (this.refreshing || this.closed || !this.link.up()) return;
    this.subscribe();
    this.refreshing = true;
    try {
      await Promise.all([...this.claims].map(([path, claim]) => this.refreshOne(path, claim)));
    } finally {
      this.refreshing = false;
    }
  }

  private async refreshOne(path: string, claim: Claim): Promise<void> {
    const live = this.opts.sessions.get(claim.session);
    if (!live) {
      // Refused after the claim, or its end was missed: never keep a key for a stream not here.
      if (performance.now() - claim.at >= this.showUpMs) this.release(claim.app, claim.name, claim.session);
      return;
    }
    let answer: unknown;
    try {
      answer = await this.runClaim(path, claim, claim.session, true);
    } catch {
      return; // the next round tries again; the key lives ttlMs
    }
    if (this.claims.get(path) !== claim || this.closed) return;
    if (answer === "OK") {
      if (!claim.held) this.opts.log.info("fleet confirmed this edge as the stream's owner", { stream: streamRef(claim.name) });
      claim.held = true;
      this.owners.set(path, claim.record);
      return;
    }
    // Another edge holds the key (both publishes were allowed while Redis was down): that one stays.
    const holder = parseOwner(answer);
    if (holder) this.owners.set(path, holder);
    this.claims.delete(path);
    this.opts.log.warn("stream key held by another edge: local publisher ended", { stream: streamRef(claim.name), owner: holder?.edge });
    this.opts.onLost?.();
    live.end("EDGE_ERR_STREAM_BUSY");
  }

  /** The whole owner map from Redis: pub/sub alone loses what was sent while a connection was down. */
  private async rescan(): Promise<void> {
    if (this.scanning || this.closed || !this.link.up()) return;
    this.scanning = true;
    this.touched = new Set();
    try {
      const prefix = this.link.key("owner:");
      // Every record is kept: whether its edge is in the registry is asked at each locate, since
      // the registry may not have been read yet when this scan runs (an edge that just started).
      const found = new Map<string, OwnerRecord>();
      for await (const keys of this.link.cmd.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
        if (keys.length === 0) continue;
        const values = await this.link.cmd.mGet(keys);
        keys.forEach((key, i) => {
          const record = parseOwner(values[i]);
          if (record) found.set(key.slice(prefix.length), record);
        });
      }
      for (const path of this.touched) {
        const current = this.owners.get(path);
        if (current) found.set(path, current);
        else found.delete(path);
      }
      if (!this.closed) this.owners = found;
    } catch (err) {
      this.opts.log.debug("fleet owner scan failed; the last known owners stay", { error: (err as Error).message });
    } finally {
      this.scanning = false;
      this.touched = null;
    }
  }
}
