// One prom-client Registry per edge instance (docs/architecture.md §1 src/metrics). Labels come from closed
// sets only — action, protocol, result, reason code — never a stream name, key, token or IP (docs/decisions.md §6).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { buildInfo } from "./build-info.js";

/**
 * Latency buckets for the edge's own decisions and lookups: a cache hit answers in microseconds, an
 * embedded-registry read in well under a millisecond, a remote bintu in tens of milliseconds, and a
 * lookup waiting out bintu.requestTimeoutMs (default 2 s) in seconds.
 */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface SessionCounts {
  publishers(protocol: "rtmp"): number;
  players(protocol: "rtmp" | "flv"): number;
  /** Other edges pulling streams published here (issue 13): counted apart from players. */
  relays(): number;
  /** Media bytes so far (ended sessions included); every protocol when `protocol` is absent. */
  bytes(direction: "in" | "out", protocol?: "rtmp" | "flv"): number;
}

export interface LimiterCounts {
  stats(): { failures: number; blocks: number; refusals: number };
}

/** One routing-table edge as the health checker sees it (its last load report: Mbit/s, cores). */
interface RoutedEdge {
  id: string;
  up: boolean;
  load: { sessions: number; egressMbps: number; cpu: number };
  loadRatio: number;
}

/** Read at scrape time: the routing table's edges as the health checker sees them, the geo db's age. */
export interface RoutingState {
  edges(): readonly RoutedEdge[];
  geoBuiltAt(): Date | undefined;
  /** When the TLS certificate in force expires; absent without TLS (issue 15). */
  /** Set only when TLS is on: when the certificate in force expires. */
  tlsNotAfter?: () => Date;
  /** Set only on a fleet edge (cluster.redisUrl, issue 12): the replica of the change log, and the edge registry. */
  cluster?: { replica(): { connected: boolean; lag: number; staleSeconds: number }; registeredEdges(): number };
}

/** Change propagation (commit on one edge → applied on this one): milliseconds on a healthy fleet, seconds after an outage. */
export const PROPAGATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * How often prom-client's event-loop monitor (Node's `monitorEventLoopDelay`, behind the
 * nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds gauges) samples. Its default, 10 ms, is a
 * timer that wakes the process 100 times a second whatever it does: 0.003 cores on this project's 2-core VM,
 * about a fifth of what an origin ingesting one 3 Mbit/s stream with no viewer spends in all (bench:relay,
 * bench/README.md). At 100 ms a stall longer than that is still measured whole, shorter ones in part, and
 * nodejs_eventloop_lag_seconds is measured afresh at every scrape.
 */
export const EVENT_LOOP_RESOLUTION_MS = 100;

/**
 * Node records the *interval* between two firings of the monitor's timer, so an idle loop reads the
 * resolution itself (10 ms at prom-client's default, 100 ms here): these gauges report the part beyond it,
 * the delay, so that an idle edge reads ~0 and an alert on them means a late loop. stddev needs no shift.
 */
const LAG_GAUGES = ["min", "max", "mean", "p50", "p90", "p99"].map((s) => `nodejs_eventloop_lag_${s}_seconds`);
function lagBeyondResolution(registry: Registry): void {
  for (const name of LAG_GAUGES) {
    const gauge = registry.getSingleMetric(name);
    if (!gauge) continue; // a runtime without monitorEventLoopDelay publishes none of them
    const get = gauge.get.bind(gauge);
    gauge.get = async () => {
      const metric = await get();
      return { ...metric, values: metric.values.map((v) => ({ ...v, value: Math.max(0, v.value - EVENT_LOOP_RESOLUTION_MS / 1000) })) };
    };
  }
}

export function createMetrics(sessions: SessionCounts, limiter: LimiterCounts, routing: RoutingState) {
  const registry = new Registry();
  // Unprefixed, as the Prometheus client-library guidelines name them: stock Node.js and process
  // dashboards and alerts key on process_* and nodejs_* (issue 11 §6).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_RESOLUTION_MS });
  lagBeyondResolution(registry);

  const decisions = new Counter({
    name: "bintu_edge_access_decisions_total",
    help: "Publish and play decisions, by result and reason code",
    labelNames: ["action", "protocol", "result", "reason"] as const,
    registers: [registry],
  });
  const connectionsClosed = new Counter({
    name: "bintu_edge_connections_closed_total",
    help: "Connections the edge closed itself, by reason code (limits, protocol errors, kicks)",
    labelNames: ["protocol", "reason"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "bintu_edge_sessions",
    help: "Active sessions from the edge's own session table",
    labelNames: ["role", "protocol"] as const,
    registers: [registry],
    collect() {
      this.set({ role: "publisher", protocol: "rtmp" }, sessions.publishers("rtmp"));
      this.set({ role: "player", protocol: "rtmp" }, sessions.players("rtmp"));
      this.set({ role: "player", protocol: "flv" }, sessions.players("flv"));
      this.set({ role: "relay", protocol: "flv" }, sessions.relays());
    },
  });
  new Counter({
    name: "bintu_edge_media_bytes_total",
    help: "Media bytes received from publishers (in) and sent to players (out), by protocol",
    labelNames: ["direction", "protocol"] as const,
    registers: [registry],
    collect() {
      // Totals live in the session table (closed sessions + live ones at scrape time). Publishers
      // are RTMP only, so there is no `in` series for flv.
      this.reset();
      this.inc({ direction: "in", protocol: "rtmp" }, sessions.bytes("in", "rtmp"));
      this.inc({ direction: "out", protocol: "rtmp" }, sessions.bytes("out", "rtmp"));
      this.inc({ direction: "out", protocol: "flv" }, sessions.bytes("out", "flv"));
    },
  });
  const decisionSeconds = new Histogram({
    name: "bintu_edge_access_decision_duration_seconds",
    help: "Time from a publish or play request to its decision (lookup, rules, token, webhook), by result",
    labelNames: ["action", "protocol", "result"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });

  new Counter({
    name: "bintu_edge_publish_limiter_events_total",
    help: "Brute-force friction: failed publishes counted, addresses blocked, publishes refused without a lookup",
    labelNames: ["event"] as const,
    registers: [registry],
    collect() {
      const { failures, blocks, refusals } = limiter.stats();
      this.reset();
      this.inc({ event: "failure" }, failures);
      this.inc({ event: "block" }, blocks);
      this.inc({ event: "refusal" }, refusals);
    },
  });
  const guardianDecisions = new Counter({
    name: "bintu_edge_guardian_decisions_total",
    help: "Guardian decisions by action, result and the kind of rule that denied (none when allowed)",
    labelNames: ["action", "result", "kind"] as const,
    registers: [registry],
  });
  const guardianWouldDeny = new Counter({
    name: "bintu_edge_guardian_report_would_deny_total",
    help: "Report-mode rules that would have refused an allowed request",
    labelNames: ["action", "kind"] as const,
    registers: [registry],
  });
  const guardianReloads = new Counter({
    name: "bintu_edge_guardian_reloads_total",
    help: "Rule recompiles by source (api, file, expiry) and result (a bad rules file keeps the old rules)",
    labelNames: ["source", "result"] as const,
    registers: [registry],
  });
  const guardianRules = new Gauge({
    name: "bintu_edge_guardian_rules",
    help: "Guardian rules in force by kind and mode",
    labelNames: ["kind", "mode"] as const,
    registers: [registry],
  });
  const tokenVerifications = new Counter({
    name: "bintu_edge_token_verifications_total",
    help: "Playback token verifications by result, reason code and whether the verified-token cache answered",
    labelNames: ["result", "reason", "cache"] as const,
    registers: [registry],
  });
  const tokenRevocations = new Counter({
    name: "bintu_edge_token_revocations_total",
    help: "Playback tokens revoked on this edge",
    registers: [registry],
  });
  const bintuRequests = new Counter({
    name: "bintu_edge_bintu_requests_total",
    help: "Requests to a remote bintu, by result (ok, timeout, network, http_5xx, bad_schema, …)",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const bintuRequestSeconds = new Histogram({
    name: "bintu_edge_bintu_request_duration_seconds",
    help: "Remote bintu request latency",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [registry],
  });
  const bintuLookupSeconds = new Histogram({
    name: "bintu_edge_bintu_lookup_duration_seconds",
    help: "Stream lookups that reached the stream manager (cache misses), by mode (embedded, remote) and result (found, unknown, error)",
    labelNames: ["mode", "result"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const streamLookups = new Counter({
    name: "bintu_edge_stream_lookups_total",
    help: "Stream directory answers by source: cache, negative, bintu, stale (served during a bintu failure), error",
    labelNames: ["source"] as const,
    registers: [registry],
  });
  const breakerTransitions = new Counter({
    name: "bintu_edge_bintu_breaker_transitions_total",
    help: "Circuit breaker state changes in front of a remote bintu",
    labelNames: ["to"] as const,
    registers: [registry],
  });
  // The state now, for alerts: a transitions counter says the breaker moved, not that it is open.
  const breakerOpen = new Gauge({
    name: "bintu_edge_bintu_breaker_open",
    help: "1 while the circuit breaker in front of a remote bintu is open or probing (half_open); 0 when closed or in embedded mode",
    registers: [registry],
  });
  breakerOpen.set(0);
  const breakerChanged = (to: "closed" | "open" | "half_open"): void => {
    breakerTransitions.inc({ to });
    breakerOpen.set(to === "closed" ? 0 : 1);
  };
  const revalidations = new Counter({
    name: "bintu_edge_revalidations_total",
    help: "Re-checks of live publishers: kept (by lookup source) or the reason they were kicked",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const webhookCalls = new Counter({
    name: "bintu_edge_webhook_calls_total",
    help: "Organisation webhook calls by call and outcome",
    labelNames: ["call", "outcome"] as const,
    registers: [registry],
  });

  const routeAnswers = new Counter({
    name: "bintu_edge_route_answers_total",
    help: "GET /v1/route answers by region of the chosen edge, reason (nearest, spill, sticky, fallback, none) and result (ok or a reason code)",
    labelNames: ["region", "reason", "result"] as const,
    registers: [registry],
  });
  const routingTableReloads = new Counter({
    name: "bintu_edge_routing_table_reloads_total",
    help: "Reloads of routing.edgesFile by result (a bad file keeps the table in force)",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const geoReloads = new Counter({
    name: "bintu_edge_geo_reloads_total",
    help: "Reloads of the geo databases by result (a bad file keeps the databases in force)",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  // Edge ids are a configured, bounded set (issue 7 §6); reset on each scrape so removed edges vanish.
  const perEdge = (name: string, help: string, value: (e: RoutedEdge) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["edge"] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const e of routing.edges()) this.set({ edge: e.id }, value(e));
      },
    });
  perEdge("bintu_edge_routing_edge_up", "1 when the health checker counts the routing table's edge healthy", (e) => (e.up ? 1 : 0));
  // One gauge per quantity, in base units, so each can be summed or graphed across edges
  // (issue 11 §6). Bytes, not bits: Prometheus' base unit for data (`promtool check metrics` flags
  // a _bits_ name), so the load report's Mbit/s become bytes per second here.
  perEdge("bintu_edge_routing_edge_sessions", "Sessions on each routed edge at its last load report", (e) => e.load.sessions);
  perEdge("bintu_edge_routing_edge_egress_bytes_per_second", "Media sent by each routed edge at its last load report", (e) =>
    Math.round((e.load.egressMbps * 1e6) / 8),
  );
  perEdge(
    "bintu_edge_routing_edge_cpu_cores_busy",
    "CPU time per second of each routed edge's process at its last load report (1 = one core busy)",
    (e) => e.load.cpu,
  );
  perEdge(
    "bintu_edge_routing_edge_load_ratio",
    "Each routed edge's load as a share of its configured capacity (max of sessions and egress); 0 without a capacity",
    (e) => e.loadRatio,
  );
  new Gauge({
    name: "bintu_edge_geo_database_age_seconds",
    help: "Age of the oldest open geo database (from its build time); absent without one",
    registers: [registry],
    collect() {
      this.reset();
      const built = routing.geoBuiltAt();
      if (built) this.set((Date.now() - built.getTime()) / 1000);
    },
  });

  const info = buildInfo();
  new Gauge({
    name: "bintu_edge_build_info",
    help: "Always 1; the labels say which bintu-edge, node-media-server and Node.js this edge runs",
    labelNames: ["version", "nms_version", "nodejs_version"] as const,
    registers: [registry],
  }).set({ version: info.version, nms_version: info.nmsVersion, nodejs_version: info.nodeVersion }, 1);

  const tlsReloads = new Counter({
    name: "bintu_edge_tls_reloads_total",
    help: "Reloads of a changed TLS certificate / key pair; an error keeps the pair in force",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  // Registered only with TLS on: a gauge without labels is always exported (as 0 until set), and a
  // 0 here would read as "expired" to the BintuEdgeCertificateExpiring alert.
  const tlsNotAfter = routing.tlsNotAfter;
  if (tlsNotAfter) {
    new Gauge({
      name: "bintu_edge_tls_certificate_expiry_seconds",
      help: "Seconds until the TLS certificate in force expires; absent without TLS",
      registers: [registry],
      collect() {
        this.set((tlsNotAfter().getTime() - Date.now()) / 1000);
      },
    });
  }

  // Registered only on a fleet edge: a single edge exports exactly what it did before issue 12.
  const cluster = routing.cluster;
  const clusterPropagationSeconds = cluster
    ? new Histogram({
        name: "bintu_edge_cluster_change_propagation_seconds",
        help: "Time from a fleet change's commit (on any edge) to its apply on this edge's replica",
        buckets: PROPAGATION_BUCKETS,
        registers: [registry],
      })
    : null;
  const originPullConnects = new Counter({
    name: "bintu_edge_origin_pull_connects_total",
    help: "Upstream connections this edge opened to pull a stream live on another edge (issue 13): one per pull, plus reconnects",
    registers: [registry],
  });
  const originPullFailures = new Counter({
    name: "bintu_edge_origin_pull_failures_total",
    help: "Upstream attempts of this edge's pulls that failed: error (no answer: connect, TLS, timeout) or refused (an HTTP status other than 200 or 404 not here)",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const ownershipRefusals = new Counter({
    name: "bintu_edge_cluster_ownership_refusals_total",
    help: "Publishers refused (stage publish) or ended (stage refresh) because another edge of the fleet holds the stream key",
    labelNames: ["stage"] as const,
    registers: cluster ? [registry] : [],
  });
  if (cluster) {
    const clusterGauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    clusterGauge("bintu_edge_cluster_connected", "1 while this edge's replica follows the fleet's Redis, else 0", () => (cluster.replica().connected ? 1 : 0));
    clusterGauge(
      "bintu_edge_cluster_replica_lag",
      "Changes committed to the fleet's log that this edge's replica has not applied yet",
      () => cluster.replica().lag,
    );
    clusterGauge(
      "bintu_edge_cluster_stale_seconds",
      "Seconds since this edge's replica last heard from the fleet's Redis; 0 while connected",
      () => cluster.replica().staleSeconds,
    );
    clusterGauge("bintu_edge_cluster_registry_edges", "Edges announcing themselves in the fleet's registry (the last known number while Redis is down)", () =>
      cluster.registeredEdges(),
    );
  }

  return {
    clusterPropagationSeconds,
    ownershipRefusals,
    originPullConnects,
    originPullFailures,
    decisionSeconds,
    bintuLookupSeconds,
    breakerChanged,
    routeAnswers,
    routingTableReloads,
    geoReloads,
    registry,
    decisions,
    connectionsClosed,
    guardianDecisions,
    guardianWouldDeny,
    guardianReloads,
    guardianRules,
    tokenVerifications,
    tokenRevocations,
    bintuRequests,
    bintuRequestSeconds,
    streamLookups,
    breakerTransitions,
    revalidations,
    webhookCalls,
    tlsReloads,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
