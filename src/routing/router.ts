// The router (issue 7): "which edge should this client use for this stream?" Composes the live
// edge table, the health checker, the geo lookup and the sticky memory around the pure select().
import { LRUCache } from "lru-cache";
import type { Config, EdgeEntry } from "../config/schema.js";
import type { Geo } from "../geo/geo.js";
import type { Logger } from "../log.js";
import { EdgeTableSource } from "./edge-table.js";
import { HealthChecker, type EdgeLoad } from "./health.js";
import { compileTable, select, type EdgeTable, type RouteReason, type SelectPolicy, type Way } from "./select.js";

export type { Way } from "./select.js";

export interface RouteRequest {
  readonly ip: string;
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
}

export interface RouterEvents {
  tableReload?(result: "ok" | "error"): void;
}

const ALTERNATIVES = 2;

/** `base/app/name[.flv][?query]`. */
function urlOf(base: string, way: Way, app: string, stream: string, query: string): string {
  const path = `${base.replace(/\/+$/, "")}/${encodeURIComponent(app)}/${encodeURIComponent(stream)}${way === "flv" ? ".flv" : ""}`;
  return query ? `${path}?${query}` : path;
}

export class Router {
  private table: EdgeTable = compileTable([]);
  private readonly health: HealthChecker;
  private readonly source: EdgeTableSource;
  private readonly sticky: LRUCache<string, string> | null;
  private readonly policy: SelectPolicy;

  /** Throws EdgeTableError when routing.edgesFile is missing or invalid. */
  constructor(
    private readonly config: Config["routing"],
    private readonly geo: Pick<Geo, "lookup">,
    private readonly events: RouterEvents = {},
    log?: Logger,
  ) {
    this.policy = { spillAt: config.spillAt, sameDistanceKm: config.sameDistanceKm, defaultRegion: config.defaultRegion, alternatives: ALTERNATIVES };
    this.sticky = config.stickyTtlMs > 0 ? new LRUCache({ max: config.maxStickyEntries, ttl: config.stickyTtlMs }) : null;
    this.health = new HealthChecker({
      ...config.health,
      onTransition: (edge, up, why) => {
        log?.[up ? "info" : "warn"](`routing: edge ${up ? "up" : "down"}`, { edge: edge.id, why });
      },
    });
    this.source = new EdgeTableSource({
      inline: config.edges,
      file: config.edgesFile,
      log,
      onReload: (result) => events.tableReload?.(result),
      onTable: (edges) => this.setTable(edges),
    });
  }

  /** Resolves once every edge has been probed once. */
  start(): Promise<void> {
    return this.health.start();
  }

  async close(): Promise<void> {
    this.source.close();
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
    const place = placed ? { lat: where.lat, lon: where.lon, region: where.region } : null;
    const stickyKey = `${req.action}\n${req.ip}\n${req.app}/${req.stream}`;
    const picked = select(
      this.table,
      this.health.status,
      { place, stream: req.stream, way: req.way, sticky: this.sticky?.get(stickyKey) },
      this.policy,
    );
    if (picked.reason === "none") {
      const { fallback } = this.config;
      const base = fallback.urls[req.way];
      if (base === undefined) return { reason: "none", located };
      const url = urlOf(base, req.way, req.app, req.stream, req.query);
      return { edge: fallback.id, url, region: fallback.region, distanceKm: null, reason: "fallback", located, alternatives: [] };
    }
    const target = ({ index, distanceKm }: { index: number; distanceKm: number | null }): RouteTarget => {
      const e = this.table.edges[index];
      const url = urlOf(e.urls[req.way]!, req.way, req.app, req.stream, req.query);
      return { edge: e.id, url, region: e.region, distanceKm: distanceKm === null ? null : Math.round(distanceKm * 10) / 10 };
    };
    const chosen = this.table.edges[picked.chosen.index];
    this.sticky?.set(stickyKey, chosen.id);
    this.health.noteRouted(picked.chosen.index);
    return { ...target(picked.chosen), reason: picked.reason, located, alternatives: picked.alternatives.map(target) };
  }

  private setTable(edges: readonly EdgeEntry[]): void {
    this.health.setEdges(edges);
    this.table = compileTable(edges);
  }
}
