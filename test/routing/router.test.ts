// The router around select(): sticky memory, the fallback, located, and the watched edges file
// (issue 7 §1: invalid entries refuse start-up or keep the old table on reload, with the reason).
import t from "tap";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { loadConfig, ConfigError } from "../../src/config/load.js";
import type { EdgeEntry } from "../../src/config/schema.js";
import { configuredEdges, parseEdgeFile } from "../../src/routing/edge-table.js";
import { Router, type RouteRequest } from "../../src/routing/router.js";
import { waitFor } from "../helpers/wait.js";

// Edges without an API URL are not probed: the router runs with no network.
const row = (id: string, lat: number, lon: number, extra: Partial<EdgeEntry> = {}) => ({
  id,
  region: "eu",
  lat,
  lon,
  urls: { flv: `http://${id}.example` },
  ...extra,
});
const routingConfig = (env: Record<string, string>) => loadConfig({ env }).routing;
/** A router over the edges a config names (the inline table: nothing to close). */
const routerOf = (routing: ReturnType<typeof routingConfig>) => new Router(routing, geo, configuredEdges(routing));
const BERLIN = { lat: 52.52, lon: 13.4 };
const geo = { lookup: (ip: string) => (ip.startsWith("10.") ? { ...BERLIN, source: "override" as const } : null) };
const req = (over: Partial<RouteRequest> = {}): RouteRequest => ({ ip: "10.0.0.1", stream: "s", app: "live", way: "flv", action: "play", query: "", ...over });

t.test("a client keeps its edge for a stream while it stays eligible", async (t) => {
  const edges = [row("fra", 50.11, 8.68), row("ams", 52.37, 4.9)];
  const router = routerOf(routingConfig({ EDGE_ROUTING_EDGES: JSON.stringify(edges), EDGE_ROUTING_SAME_DISTANCE_KM: "0" }));
  t.teardown(() => router.close());
  await router.start();
  const first = router.route(req());
  t.match(first, { edge: "fra", reason: "nearest", located: "override" });
  t.match(router.route(req()), { edge: "fra", reason: "sticky" }, "asked again: sticky");
  t.match(router.route(req({ ip: "10.0.0.2" })), { edge: "fra", reason: "nearest" }, "another client: its own answer");
  t.match(router.route(req({ ip: "192.0.2.1" })), { reason: "nearest", located: "default", distanceKm: null }, "unplaced, no default region");
});

t.test("sticky memory off: every answer is fresh", async (t) => {
  const router = routerOf(routingConfig({ EDGE_ROUTING_EDGES: JSON.stringify([row("fra", 50.11, 8.68)]), EDGE_ROUTING_STICKY_TTL_MS: "0" }));
  t.teardown(() => router.close());
  router.route(req());
  t.equal(router.route(req()).reason, "nearest");
});

t.test("the edges file: invalid at start refuses, invalid later keeps the table", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bintu-edge-table-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "edges.yaml");
  const write = (text: string) => {
    writeFileSync(file + ".tmp", text);
    renameSync(file + ".tmp", file);
  };
  write("edges:\n  - { id: fra, region: eu, lat: 91, lon: 8, urls: {} }\n");
  t.throws(() => configuredEdges(routingConfig({ EDGE_ROUTING_EDGES_FILE: file })), { message: /edges\.0\.lat: must be <= 90, got 91/ });

  write(stringify({ edges: [row("fra", 50.11, 8.68)] }));
  const reloads: string[] = [];
  const routing = routingConfig({ EDGE_ROUTING_EDGES_FILE: file });
  const feed = configuredEdges(routing, { onReload: (r) => reloads.push(r) });
  const router = new Router(routing, geo, feed);
  t.teardown(async () => {
    await router.close();
    feed.close();
  });
  t.match(router.route(req({ ip: "10.0.0.9" })), { edge: "fra" });

  write(stringify({ edges: [row("ams", 52.37, 4.9), row("ams", 52.37, 4.9)] }));
  await waitFor("the bad version seen", () => reloads.includes("error"));
  t.same(
    router.edges.map((e) => e.id),
    ["fra"],
    "duplicate ids: old table kept",
  );

  write(stringify({ edges: [row("ams", 52.37, 4.9)] }));
  await waitFor("the good version applied", () => reloads.includes("ok"));
  t.same(
    router.edges.map((e) => e.id),
    ["ams"],
  );
  t.match(router.route(req({ ip: "10.0.0.10" })), { edge: "ams" });
});

t.test("edge file and config validation name the key and the reason", async (t) => {
  const bad: [string, RegExp][] = [
    ["", /expected a mapping with an `edges:` list/],
    ["edges: [1]", /edges\.0: expected mapping/],
    ["edges: []\nextra: 1", /extra: unknown key/],
    ["edges:\n  - { id: 'a b', region: eu, lat: 1, lon: 1, urls: {} }", /edges\.0\.id: must match/],
    ["edges:\n  - { id: a, region: eu, lat: 1, lon: 1, urls: { flv: 'ftp://x' } }", /edges\.0\.urls\.flv: must match/],
    ["edges:\n  - { id: a, region: eu, lat: 1, lon: 1, urls: {}, weight: 0 }", /edges\.0\.weight: must be > 0/],
    ["edges:\n  - { id: a, region: eu, lat: 1, lon: 1, urls: {}, capacity: { sessions: 0 } }", /edges\.0\.capacity\.sessions: must be >= 1/],
    ["edges:\n  - { id: a, region: eu, lat: 1, urls: {} }", /edges\.0\.lon/],
    ["edges: [", /YAML syntax error/],
  ];
  for (const [text, reason] of bad) t.throws(() => parseEdgeFile("f.yaml", text), reason, JSON.stringify(text));
  t.throws(() => parseEdgeFile("f.yaml", ""), { name: "EdgeTableError", path: "f.yaml" });
  t.same(
    parseEdgeFile("f.yaml", "edges:\n  - { id: a, region: eu, lat: 1, lon: 2, urls: {} }")[0],
    {
      id: "a",
      region: "eu",
      lat: 1,
      lon: 2,
      urls: {},
      api: "",
      capacity: {},
      weight: 1,
      drain: false,
    },
    "defaults filled in",
  );

  const issues = (env: Record<string, string>) => {
    try {
      loadConfig({ env });
      return [];
    } catch (err) {
      return (err as ConfigError).issues.map((i) => `${i.path}: ${i.reason}`);
    }
  };
  t.same(issues({ EDGE_ROUTING_EDGES: JSON.stringify([row("a", 1, 1), row("a", 2, 2)]) }), [
    "routing.edges.1.id: duplicate edge id 'a' (also routing.edges.0)",
  ]);
  t.same(issues({ EDGE_ROUTING_EDGES: "[{" }), ["routing.edges: expected a JSON list (from EDGE_ROUTING_EDGES)"]);
  t.same(issues({ EDGE_ROUTING_EDGES: JSON.stringify([row("a", 1, 1)]), EDGE_ROUTING_EDGES_FILE: "/x.yaml" }), [
    "routing.edges: set either routing.edges or routing.edgesFile, not both",
  ]);
  t.same(issues({ EDGE_GEO_OVERRIDES: JSON.stringify([{ cidr: "10.0.0.0/33" }]) }), ["geo.overrides.0.cidr: '10.0.0.0/33': IPv4 prefix length must be 0-32"]);
  t.same(issues({ EDGE_ROUTING_SPILL_AT: "1.5" }), ["routing.spillAt: must be <= 1, got 1.5 (from EDGE_ROUTING_SPILL_AT)"]);
});
