// One prom-client Registry per edge instance (DESIGN.md §1 src/metrics). Labels come from closed
// sets only — action, protocol, result, reason code — never a stream name, key, token or IP (§4).
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

export interface SessionCounts {
  publishers(protocol: "rtmp"): number;
  players(protocol: "rtmp" | "flv"): number;
  bytes(direction: "in" | "out"): number;
}

export function createMetrics(sessions: SessionCounts) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "bintu_edge_" });

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
    },
  });
  new Counter({
    name: "bintu_edge_media_bytes_total",
    help: "Media bytes received from publishers (in) and sent to players (out)",
    labelNames: ["direction"] as const,
    registers: [registry],
    collect() {
      // Totals live in the session table (closed sessions + live ones at scrape time).
      this.reset();
      this.inc({ direction: "in" }, sessions.bytes("in"));
      this.inc({ direction: "out" }, sessions.bytes("out"));
    },
  });

  return { registry, decisions, connectionsClosed };
}

export type Metrics = ReturnType<typeof createMetrics>;
