// The fleet's composition (issues 12 and 13), split out of createEdge (src/server.ts): the Redis link,
// the edge registry, the change log's replica and its pruner, fleet rules / revocations / token keys,
// stream ownership (the publish claim and the locator), the origins a pull asks, the cluster status,
// and their shutdown order. A composition root beside server.ts (docs/layers.md): createEdge calls
// composeFleet() once, then each stage where the edge has built what that stage needs, because the
// replica must start before the Guardian reads its stores and ownership needs the session table.
// No cluster.redisUrl: none of the fleet exists, and every stage hands back the edge's own parts.
import { join } from "node:path";
import type { StreamLocator } from "./access/ports.js";
import type { SessionTable } from "./access/session-table.js";
import type { JwksFollower } from "./auth/jwks-follower.js";
import type { PlaybackTokens } from "./auth/playback-tokens.js";
import type { RevocationStore } from "./auth/revocations.js";
import type { StreamSource } from "./bintu/directory.js";
import { announcedEntry, EdgeRegistry, type BoundPorts } from "./cluster/edge-registry.js";
import { FleetRules, fleetKeys, fleetRevocations } from "./cluster/fleet-rules.js";
import { postStreamChanges, withFleetStreamChanges } from "./cluster/fleet-streams.js";
import { StreamOwnership } from "./cluster/ownership.js";
import { FleetPruner, isExpired } from "./cluster/prune.js";
import { RedisLink } from "./cluster/redis.js";
import { Replica } from "./cluster/replica.js";
import { clusterView } from "./cluster/status.js";
import type { Config } from "./config/schema.js";
import type { GuardianStore } from "./guardian/store.js";
import type { RuleStore } from "./guardian/rule-store.js";
import type { FleetApi } from "./http/fleet-routes.js";
import type { Logger } from "./log.js";
import type { LoadReport } from "./metrics/load.js";
import type { Metrics } from "./metrics/metrics.js";
import { MergedEdgeFeed } from "./routing/edge-table.js";
import type { EdgeFeed } from "./routing/router.js";

export interface FleetDeps {
  log: Logger;
  /** The configured edges (routing.edges / routing.edgesFile); the registered ones join them. */
  edgeFeed: EdgeFeed;
  /** What start() bound; null before it and after close(). */
  addresses: () => BoundPorts | null;
  load: () => LoadReport;
  /** The edge's metrics: created after composeFleet, read only once the replica or ownership runs. */
  metrics: () => Metrics;
}

/** What the edge's stores give the replica: it mirrors fleet rules, revocations and token keys into them. */
export interface FleetStores {
  guardianStore: GuardianStore;
  revocations: RevocationStore;
  keys: JwksFollower;
  tokens: PlaybackTokens;
}

/** What access control and origin pull use: the fleet's when there is one, else the session table's. */
export interface FleetClaims {
  locator: StreamLocator;
  claim: StreamOwnership | null;
  pulls: "any" | "located" | "none";
  /** Base URLs that may carry a stream now, in order (issue 13). */
  origins: (app: string, name: string) => string[];
}

export function composeFleet(config: Config, deps: FleetDeps) {
  const { log } = deps;
  // The fleet (issue 12): one Redis link; the edge registry feeds the router beside the configured
  // edges, ownership claims stream keys and locates streams. No cluster.redisUrl: none of it.
  const { cluster } = config;
  const link = cluster.redisUrl === "" ? null : new RedisLink({ ...cluster, url: cluster.redisUrl, name: `bintu-edge:${cluster.edgeId}`, log });
  const registered: EdgeRegistry | null = link
    ? new EdgeRegistry({
        link,
        edgeId: cluster.edgeId,
        entry: () => {
          const bound = deps.addresses();
          return bound && announcedEntry(config, bound);
        },
        load: () => deps.load(),
        configuredIds: (): string[] => merged?.configuredIds() ?? [],
        log,
      })
    : null;
  const merged = registered ? new MergedEdgeFeed(deps.edgeFeed, registered) : null;
  // The change log's replica mirrors fleet rules, revocations, token keys and stream locks into the
  // local stores (started by replicate(), before the Guardian reads them).
  const replica = link
    ? new Replica({
        link,
        log,
        file: join(config.dataDir, "cluster-replica.json"),
        commandTimeoutMs: cluster.commandTimeoutMs,
        events: { applied: (ms) => deps.metrics().clusterPropagationSeconds?.observe(ms / 1000) },
        expired: isExpired,
      })
    : null;
  // Expired rules and revocations leave the fleet's snapshot, pruned by the lowest announcing edge.
  const pruner = replica && registered ? new FleetPruner({ replica, edgeId: cluster.edgeId, liveIds: () => registered.liveIds(), log }) : null;
  let unpostStreams: (() => void) | null = null;
  let revoke: ((jti: string, exp: number) => Promise<void>) | null = null;
  let ownership: StreamOwnership | null = null;

  return {
    /** The router's edge feed: the configured edges, with the registered ones in a fleet. */
    feed: merged ?? deps.edgeFeed,
    /** For the cluster gauges; absent on a single edge. */
    metrics: link && registered && replica ? { replica: () => replica.status(), registeredEdges: () => registered.size } : null,

    /**
     * The directory's stream source. In a fleet the registry's edge posts its lock / delete changes,
     * and a remote edge takes them besides its bintu's (issue 12).
     */
    streams(source: StreamSource, embedded: boolean): StreamSource {
      if (!replica) return source;
      if (embedded) {
        unpostStreams = postStreamChanges(replica, source, log);
        return source;
      }
      return withFleetStreamChanges(source, replica);
    },

    /** Wires the replica into the local stores and starts it; returns the Guardian API's rule store. */
    replicate({ guardianStore, revocations, keys, tokens }: FleetStores): RuleStore {
      const fleetRules = replica ? new FleetRules(replica, guardianStore, { ipRuleTtlMs: config.guardian.ipRuleTtlMs }) : null;
      revoke = replica ? fleetRevocations(replica, revocations) : null;
      if (replica)
        fleetKeys(
          replica,
          cluster.edgeId,
          () => keys.keys.jwks(),
          keys,
          log,
          () => tokens.forgetVerified(),
        );
      replica?.start();
      pruner?.start();
      return fleetRules ?? guardianStore;
    },

    /** Stream ownership over the session table: the publish claim, the locator, the origins to pull from. */
    claims(table: SessionTable): FleetClaims {
      ownership =
        link && registered
          ? new StreamOwnership({
              link,
              edgeId: cluster.edgeId,
              urls: () => {
                const bound = deps.addresses();
                return bound ? announcedEntry(config, bound).urls : {};
              },
              sessions: table,
              liveEdges: () => registered.liveIds(),
              log,
              onLost: () => deps.metrics().ownershipRefusals.inc({ stage: "refresh" }),
            })
          : null;
      const owner = ownership;
      // Origin pull (issue 13): the fleet's locator names the origin edge; static cluster.origins are
      // asked after it (or alone, without Redis).
      const staticOrigins = cluster.origins;
      return {
        locator: owner ?? table,
        claim: owner,
        pulls: staticOrigins.length > 0 ? "any" : owner ? "located" : "none",
        origins: (app, name) => {
          const at = owner?.locate(app, name);
          const located = at?.at === "edge" && at.urls?.flv ? [at.urls.flv] : [];
          return [...located, ...staticOrigins.filter((o) => !located.includes(o))];
        },
      };
    },

    /** The control API's fleet routes and cluster status (after replicate() and claims()); empty on a single edge. */
    api(): {
      cluster?: { revoke: (jti: string, exp: number) => Promise<void>; view: () => Promise<unknown> };
      fleet?: FleetApi & { holds(app: string, name: string, session: string): boolean };
    } {
      const owner = ownership;
      return {
        ...(link && replica && revoke && { cluster: { revoke, view: () => clusterView(cluster.edgeId, link, replica) } }),
        ...(owner && registered
          ? {
              fleet: {
                edgeId: cluster.edgeId,
                locate: (a: string, n: string) => owner.locate(a, n),
                holds: (a: string, n: string, s: string) => owner.holds(a, n, s),
                setDrain: (id: string, d: boolean) => registered.setDrain(id, d),
              },
            }
          : {}),
      };
    },

    /** Once the edge listens: announce it to the registry. */
    start(): void {
      registered?.start();
    },

    /** After media: ended publishers give their keys back, then this edge leaves the registry, then the link closes. */
    async close(): Promise<void> {
      await ownership?.close();
      await registered?.close();
      merged?.close();
      unpostStreams?.();
      pruner?.close();
      // The link before awaiting the replica: its blocked read then ends at once instead of at its BLOCK time.
      const replicaClosed = replica?.close();
      await link?.close();
      await replicaClosed;
    },
  };
}
