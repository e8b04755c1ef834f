// Reads deploy/grafana/bintu-edge.json: the queries of its panels and the metric names they
// name, so tests can check them against a live edge's /metrics and a real Prometheus.
import { readFileSync } from "node:fs";

export const DASHBOARD = new URL("../../deploy/grafana/bintu-edge.json", import.meta.url);

export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ expr: string; refId: string; datasource?: { type: string; uid: string } }>;
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
}

export const readDashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard;

/**
 * Metric names in a PromQL expression: every identifier right before a `{` selector (the board
 * writes each selector with braces, for its $instance filter) and every token with one of the
 * exporters' prefixes wherever it stands. Label values in quotes are removed first.
 */
export function metricNames(expr: string): string[] {
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const names = new Set<string>();
  for (const m of bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{/g)) names.add(m[1]);
  for (const m of bare.matchAll(/\b((?:bintu_edge|process|nodejs)_[a-zA-Z0-9_:]*)/g)) names.add(m[1]);
  return [...names].sort();
}

export function dashboardExprs(): Array<{ panel: string; expr: string; metrics: string[] }> {
  return readDashboard().panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: `${p.title} (${t.refId})`, expr: t.expr, metrics: metricNames(t.expr) })),
  );
}

/**
 * What Grafana substitutes before sending a query: all edges, and the rate window it computes for
 * the tests' 1 s scrapes ($__rate_interval is at least four scrape intervals). A longer window
 * would under-read a rate while it holds only the test's first seconds.
 */
export function forPrometheus(expr: string): string {
  return expr.replaceAll("$__rate_interval", "5s").replaceAll("$instance", ".*");
}

/**
 * Families an edge exports only in a fleet (`cluster.redisUrl` set) or with TLS on: a single plain
 * edge never writes them, so the board's queries on them are checked against such an edge
 * (test/cluster/fleet-log.test.ts, test/tls/edge.test.ts) and not against plain ones.
 */
export const FLEET_ONLY = /^bintu_edge_cluster_/;
export const TLS_ONLY = /^bintu_edge_tls_certificate_expiry_seconds$/;

/**
 * The families an exposition declares (`# TYPE`), with a histogram's and a summary's series: a
 * labelled counter nothing has counted yet has no sample, but is exported and graphs once it moves.
 */
export function exportedFamilies(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name);
    if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    if (type === "summary") for (const suffix of ["_sum", "_count"]) names.add(name + suffix);
  }
  return names;
}

/** The board's metric names that match `only`, each at least once (so a check on them cannot pass empty). */
export function boardMetricsMatching(only: RegExp): string[] {
  return [...new Set(dashboardExprs().flatMap((e) => e.metrics.filter((m) => only.test(m))))].sort();
}
