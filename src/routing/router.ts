// The router (issue 7): "which edge should this client use for this stream?" Composes the live
// edge table, the health checker, the geo lookup and the sticky memory around the pure select().
import type { Config, EdgeEntry } from "../config/schema.js";
import type { Geo } from "../geo/geo.js";
import type { Logger } from "../log.js";
import { HealthChecker, type EdgeLoad } from "./health.js";
import { StickyMemory } from "./sticky.js";
import { compileTable, hash32, select, type EdgeTable, type RouteReason, type SelectPolicy, type Way } from "./select.js";

export type { Way } from "./select.js";

export interface RouteRequest {
  readonly ip: string;
  /** Validated names (STREAM_NAME, APP_NAME in src/primitives/stream-key.ts): URL-safe as they are. */
  readonly stream: string;
  readonly app: string;
  readonly way: Way;
  readonly action: "play" | "publish";
  /** Query parameters handed on to the edge (e.g. `jwtoken=…`), already encoded; "" = none. */
  readonly query: string;
}

export interface RouteTarget {
  readonly edge: string;
  readonly url: string;
  readonly region: string;
  readonly distanceKm: number | null;
}

export type Located = "override" | "mmdb" | "default";

export type RouteAnswer =
  | (RouteTarget & { readonly reason: RouteReason; readonly located: Located; readonly alternatives: readonly RouteTarget[] })
  | { readonly reason: "none"; readonly located: Located };

export interface EdgeSnapshot {
  readonly id: string;
  readonly up: boolean;
  readonly load: EdgeLoad;
  readonly loadRatio: number;
  /** Alive by its fleet registry announcement (load announced, not probed). */
  readonly announced: boolean;
}

/**
 * Where the router's edge table comes from: the config or a watched file on one edge
 * (EdgeTableSource), merged with the fleet's edge registry (MergedEdgeFeed). `subscribe` calls the
 * listener with the current table at once and with every later one; a feed only ever hands on
 * valid tables. `announced`: the edges alive by their own announcement, with the load they
 * announced — not probed; the same `edges` array again means only loads changed.
 */
export interface EdgeFeed {
  subscribe(listener: (edges: readonly EdgeEntry[], announced?: ReadonlyMap<string, EdgeLoad>) => void): () => void;
}

const ALTERNATIVES = 2;

/** (action, client, app/stream) as the 31-bit key of StickyMemory: no string is built per request. */
function stickyKeyOf(req: RouteRequest): number {
  const h = hash32(req.stream, hash32(req.app, hash32(req.ip, req.action === "play" ? 0x811c9dc5 : 0x050c5d1f)));
  return h & 0x7fffffff;
}

const roundKm = (km: number | null) => (km === null ? null : Math.round(km * 10) / 10);

/** The part of a URL after the edge's base: `/app/name[.flv][?query]` (names are URL-safe, see RouteRequest). */
function pathOf(req: RouteRequest): string {
  const path = `/${req.app}/${req.stream}${req.way === "flv" ? ".flv" : ""}`;
  return req.query ? `${path}?${req.query}` : path;
}

export class Router {
  private table: EdgeTable = compileTable([]);
  private readonly health: HealthChecker;
  private readonly unsubscribe: () => void;
  private readonly sticky: StickyMemory | null;
  private readonly policy: SelectPolicy;

  constructor(
    private readonly config: Config["routing"],
    private readonly geo: Pick<Geo, "lookup">,
    feed: EdgeFeed,
    log?: Logger,
    /** For the health and load probes: trusts tls.caFile besides the system store (issue 15). */
    fetchFn?: typeof fetch,
  ) {
    this.policy = { spillAt: config.spillAt, sameDistanceKm: config.sameDistanceKm, defaultRegion: config.defaultRegion, alternatives: ALTERNATIVES };
    this.sticky = config.stickyTtlMs > 0 ? new StickyMemory(config.stickyTtlMs, config.maxStickyEntries) : null;
    this.health = new HealthChecker({
      ...config.health,
      ...(fetchFn ? { fetch: fetchFn } : {}),
      onTransition: (edge, up, why) => {
        log?.[up ? "info" : "warn"](`routing: edge ${up ? "up" : "down"}`, { edge: edge.id, why });
      },
    });
    this.unsubscribe = feed.subscribe((edges, announced) => this.setTable(edges, announced));
  }

  /** Resolves once every edge has been probed once. */
  start(): Promise<void> {
    return this.health.start();
  }

  async close(): Promise<void> {
    this.unsubscribe();
    await this.health.close();
  }

  get edges(): readonly EdgeEntry[] {
    return this.table.edges;
  }

  edgeSnapshot(): EdgeSnapshot[] {
    return this.health.snapshot();
  }

  route(req: RouteRequest): RouteAnswer {
    const where = this.geo.lookup(req.ip);
    // A record with a country but no coordinates or region does not place the client.
    const placed = where !== null && ((where.lat !== undefined && where.lon !== undefined) || where.region !== undefined);
    const located: Located = placed ? where.source : "default";
    // The geo answer itself (one frozen object per database record): select() caches per place.
    const place = placed ? where : null;
    const stickyKey = this.sticky === null ? 0 : stickyKeyOf(req);
    const picked = select(this.table, this.health.status, { place, stream: req.stream, way: req.way, sticky: this.sticky?.get(stickyKey) }, this.policy);
    const path = pathOf(req);
    if (picked.reason === "none") {
      const { fallback } = this.config;
      const base = fallback.urls[req.way];
      if (base === undefined) return { reason: "none", located };
      const url = base.replace(/\/+$/, "") + path;
      return { edge: fallback.id, url, region: fallback.region, distanceKm: null, reason: "fallback", located, alternatives: [] };
    }
    const { edges, base } = this.table;
    const urls = base[req.way];
    const alternatives: RouteTarget[] = [];
    for (const a of picked.alternatives) {
      alternatives.push({ edge: edges[a.index].id, url: urls[a.index] + path, region: edges[a.index].region, distanceKm: roundKm(a.distanceKm) });
    }
    const { index, distanceKm } = picked.chosen;
    const chosen = edges[index];
    this.sticky?.set(stickyKey, chosen.id);
    this.health.noteRouted(index);
    // Built field by field: an object spread here cost more than the whole selection (measured).
    return { edge: chosen.id, url: urls[index] + path, region: chosen.region, distanceKm: roundKm(distanceKm), reason: picked.reason, located, alternatives };
  }

  private setTable(edges: readonly EdgeEntry[], announced?: ReadonlyMap<string, EdgeLoad>): void {
    this.health.setEdges(edges, announced);
    // Announced loads change every second; the compiled table (and its per-place cache) only with the edges.
    if (edges !== this.table.edges) this.table = compileTable(edges);
  }
}
