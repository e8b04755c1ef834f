// The fleet's edge registry (issue 12 §4): every edge announces its routing table entry and its
// load every second; every router reads who is announcing and merges them into its table
// (src/routing/edge-table.ts MergedEdgeFeed). Drain flags set through any edge's API ride along.
//
// `P edge:<id>` = {entry, load} with a 3 s TTL, and `P edges` a sorted set of ids scored by the
// time of their last announcement — scored by Redis' own clock (TIME inside the script), so edges
// with skewed clocks still agree on who is alive. Readers take the ids announced in the last
// WINDOW ms, every READ ms, pruning older scores: an edge that stops announcing leaves every
// answer within WINDOW + READ = 3 s of its last announcement. One sorted set instead of one JSON
// list: SRS's proxy keeps its server list as one JSON value by GET-modify-SET, which loses
// concurrent updates (https://github.com/ossrs/srs/blob/develop/proxy/srs.go). The ports are in
// docs/architecture.md §3.
import { randomUUID } from "node:crypto";
import { Value } from "@sinclair/typebox/value";
import { EdgeError } from "../errors.js";
import { EdgeEntrySchema, type Config, type EdgeEntry } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { AnnouncedEdge, RegisteredEdges, RegistryView } from "../routing/edge-table.js";
import type { EdgeLoad } from "../routing/health.js";
import type { RedisLink } from "./redis.js";
import { RedisScript } from "./script.js";

export interface EdgeRegistryOptions {
  readonly link: RedisLink;
  readonly edgeId: string;
  /** This edge's routing table entry; null until it listens (nothing is announced before). */
  readonly entry: () => EdgeEntry | null;
  /** What /v1/load reports (src/metrics/load.ts); the routing share of it is announced. */
  readonly load: () => EdgeLoad;
  /** Configured edge ids: their drain flags are read too. */
  readonly configuredIds: () => readonly string[];
  readonly log: Logger;
  readonly announceMs?: number;
  readonly readMs?: number;
  readonly ttlMs?: number;
  readonly windowMs?: number;
}

// KEYS: edge key, edges set, registry epoch. ARGV: announcement, ttl, id, prefix, the epoch this
// edge knows ("" = none yet), a new epoch, the drained ids it last saw… Scored by Redis' clock.
// Drain flags live only in Redis: the epoch (set by the first announcer into an empty Redis) tells
// every edge that Redis came back empty, and each puts back the flags it saw before.
const ANNOUNCE = new RedisScript(`
local t = redis.call('TIME')
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[6]
  redis.call('SET', KEYS[3], epoch)
end
if ARGV[5] ~= '' and ARGV[5] ~= epoch then
  for i = 7, #ARGV do redis.call('SET', ARGV[4] .. 'drain:' .. ARGV[i], '1') end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], t[1] * 1000 + math.floor(t[2] / 1000), ARGV[3])
return epoch
`);

// KEYS: edges set. ARGV: window ms, prefix, configured ids… → {ids, announcements, drained ids, epoch}.
// The edge and drain keys are built here from the ids the set holds (a single Redis, no cluster slots).
const READ = new RedisScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')
local entries, drained, asked = {}, {}, {}
for i, id in ipairs(ids) do
  entries[i] = redis.call('GET', ARGV[2] .. 'edge:' .. id) or ''
  asked[id] = true
end
for i = 3, #ARGV do asked[ARGV[i]] = true end
for id in pairs(asked) do
  if redis.call('EXISTS', ARGV[2] .. 'drain:' .. id) == 1 then drained[#drained + 1] = id end
end
return {ids, entries, drained, redis.call('GET', ARGV[2] .. 'registry:epoch') or ''}
`);

/** What start() bound, as the registry needs it. */
export interface BoundPorts {
  /** Plain RTMP, or RTMPS when plain RTMP is off. */
  readonly rtmp: { port: number };
  readonly rtmps?: { port: number };
  readonly playback: { port: number };
  readonly api: { port: number };
}

/**
 * This edge's routing table entry: cluster.announce, with URLs it leaves empty made from publicHost
 * and the bound ports (rtmps / https when TLS is on).
 */
export function announcedEntry(config: Pick<Config, "cluster" | "publicHost">, bound: BoundPorts): EdgeEntry {
  const { announce, edgeId } = config.cluster;
  const host = config.publicHost;
  const { rtmps } = bound;
  const rtmp = rtmps ? `rtmps://${host}:${rtmps.port}` : `rtmp://${host}:${bound.rtmp.port}`;
  const http = rtmps ? "https" : "http";
  return {
    id: edgeId,
    region: announce.region,
    lat: announce.lat,
    lon: announce.lon,
    api: announce.api || `${http}://${host}:${bound.api.port}`,
    urls: { ingest: announce.urls.ingest ?? rtmp, rtmp: announce.urls.rtmp ?? rtmp, flv: announce.urls.flv ?? `${http}://${host}:${bound.playback.port}` },
    capacity: announce.capacity,
    weight: announce.weight,
    drain: false,
  };
}

/** READ's answer: ids announcing, their announcements ("" = expired), drained ids, the registry epoch. */
type RegistryReply = [string[], string[], string[], string];

const finite0 = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

interface Announcement {
  readonly entry: EdgeEntry;
  readonly load: EdgeLoad;
  /** The announcer's wall clock when it announced (each report's text differs by it). */
  readonly at: number;
}

/** An announcement as stored; null when it is not one (another version, a stray key). */
export function parseAnnouncement(text: string): Announcement | null {
  try {
    const a = JSON.parse(text) as { entry?: unknown; load?: Record<string, unknown>; at?: unknown };
    if (!Value.Check(EdgeEntrySchema, a.entry) || !finite0(a.at)) return null;
    const { sessions, egressMbps, cpu } = a.load ?? {};
    if (!finite0(sessions) || !finite0(egressMbps) || !finite0(cpu)) return null;
    return { entry: a.entry, load: { sessions, egressMbps, cpu }, at: a.at };
  } catch {
    return null;
  }
}

export class EdgeRegistry implements RegisteredEdges {
  private readonly link: RedisLink;
  private view: RegistryView = { edges: [], drained: new Set(), live: false };
  /** Last announcement per id: the same report keeps the same load object (see HealthChecker.announce). */
  private readonly known = new Map<string, AnnouncedEdge & { readonly text: string }>();
  private readonly listeners = new Set<(view: RegistryView) => void>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly offUp: () => void;
  private readonly warned = new Set<string>();
  /** The drain flags of the last read that found the fleet announcing: what a Redis come back empty is given again. */
  private lastDrained: ReadonlySet<string> = new Set();
  /** The registry epoch this edge announced into; "" before its first announcement. */
  private epoch = "";
  private ids: ReadonlySet<string> = new Set();
  private reading = false;
  private announcing = false;
  private closed = false;

  constructor(private readonly opts: EdgeRegistryOptions) {
    this.link = opts.link;
    this.offUp = this.link.onUp((up) => {
      if (up) void this.announce().then(() => this.read());
      else this.publish({ ...this.view, live: false });
    });
  }

  start(): void {
    this.timers.push(setInterval(() => void this.announce(), this.opts.announceMs ?? 1_000));
    this.timers.push(setInterval(() => void this.read(), this.opts.readMs ?? 500));
    for (const t of this.timers) t.unref();
    void this.announce().then(() => this.read());
  }

  subscribe(listener: (view: RegistryView) => void): () => void {
    this.listeners.add(listener);
    listener(this.view);
    return () => this.listeners.delete(listener);
  }

  /** Ids of the edges announcing now (the last known ones while Redis cannot be read). Asked on every decision: kept, not built. */
  liveIds(): ReadonlySet<string> {
    return this.ids;
  }

  get size(): number {
    return this.view.edges.length;
  }

  /** Sets or clears an edge's drain flag for every router of the fleet. Throws EDGE_ERR_CLUSTER_UNAVAILABLE. */
  async setDrain(id: string, drain: boolean): Promise<void> {
    if (!this.link.up()) throw new EdgeError("EDGE_ERR_CLUSTER_UNAVAILABLE");
    const key = this.link.key(`drain:${id}`);
    try {
      await (drain ? this.link.cmd.set(key, "1") : this.link.cmd.del(key));
    } catch (err) {
      throw new EdgeError("EDGE_ERR_CLUSTER_UNAVAILABLE", (err as Error).message);
    }
    await this.read(); // this edge's own router sees it at once
  }

  /** Withdraws this edge's announcement (a clean shutdown leaves every answer now, not in 3 s). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.offUp();
    this.listeners.clear();
    if (!this.link.up()) return;
    await Promise.allSettled([this.link.cmd.del(this.link.key(`edge:${this.opts.edgeId}`)), this.link.cmd.zRem(this.link.key("edges"), this.opts.edgeId)]);
  }

  private async announce(): Promise<void> {
    const entry = this.opts.entry();
    if (entry === null || this.announcing || this.closed || !this.link.up()) return;
    this.announcing = true;
    const { sessions, egressMbps, cpu } = this.opts.load();
    const text = JSON.stringify({ entry, load: { sessions, egressMbps, cpu }, at: Date.now() });
    try {
      const epoch = await ANNOUNCE.run(
        this.link.cmd,
        [this.link.key(`edge:${this.opts.edgeId}`), this.link.key("edges"), this.link.key("registry:epoch")],
        [text, String(this.opts.ttlMs ?? 3_000), this.opts.edgeId, this.link.prefix, this.epoch, randomUUID(), ...this.lastDrained],
      );
      this.epoch = String(epoch);
    } catch (err) {
      this.opts.log.debug("fleet announcement not answered", { error: (err as Error).message });
    } finally {
      this.announcing = false;
    }
  }

  private async read(): Promise<void> {
    if (this.reading || this.closed || !this.link.up()) return;
    this.reading = true;
    try {
      const window = String(this.opts.windowMs ?? 2_500);
      const reply = (await READ.run(this.link.cmd, [this.link.key("edges")], [window, this.link.prefix, ...this.opts.configuredIds()])) as RegistryReply;
      if (!this.closed) this.apply(reply);
    } catch (err) {
      this.opts.log.debug("fleet registry not read", { error: (err as Error).message });
      if (this.view.live) this.publish({ ...this.view, live: false });
    } finally {
      this.reading = false;
    }
  }

  private apply([ids, texts, drained, epoch]: RegistryReply): void {
    const edges: AnnouncedEdge[] = [];
    const seen = new Set<string>();
    ids.forEach((id, i) => {
      const text = texts[i];
      if (!text) return; // announced, then its key expired: gone
      // The same text read again keeps its objects (and the load's identity: no new report).
      let known = this.known.get(id);
      if (known?.text !== text) {
        const parsed = parseAnnouncement(text);
        if (!parsed || parsed.entry.id !== id) {
          if (!this.warned.has(id)) this.opts.log.warn("fleet registry: announcement ignored (not a valid routing table entry)", { edge: id });
          this.warned.add(id);
          return;
        }
        known = { text, entry: parsed.entry, load: parsed.load };
        this.known.set(id, known);
      }
      seen.add(id);
      edges.push({ entry: known.entry, load: known.load });
    });
    for (const id of this.known.keys()) if (!seen.has(id)) this.known.delete(id);
    // Only flags read in the epoch this edge announced into: after Redis came back empty, what it
    // held before is kept until this edge's next announcement has put it back.
    if (epoch === this.epoch) this.lastDrained = new Set(drained);
    this.publish({ edges, drained: new Set(drained), live: true });
  }

  private publish(view: RegistryView): void {
    if (view.edges !== this.view.edges) this.ids = new Set(view.edges.map((e) => e.entry.id));
    this.view = view;
    for (const listener of this.listeners) listener(view);
  }
}
