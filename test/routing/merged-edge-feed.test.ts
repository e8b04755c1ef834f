// The router's table in a fleet (src/routing/edge-table.ts MergedEdgeFeed, issue 12 §4) and how the
// health checker treats announced edges: configured edges win on an id clash, the fleet's drain
// flags apply to both kinds, a table is handed on again only when an entry changed, announced
// edges are up with their announced load and never probed — until the registry cannot be read,
// when they are probed like configured ones.
import t from "tap";
import type { EdgeEntry } from "../../src/config/schema.js";
import { MergedEdgeFeed, type RegistryView } from "../../src/routing/edge-table.js";
import { HealthChecker, type EdgeLoad } from "../../src/routing/health.js";
import type { EdgeFeed } from "../../src/routing/router.js";
import { freePort } from "../helpers/prometheus-server.js";
import { waitFor } from "../helpers/wait.js";

const entry = (id: string, api = ""): EdgeEntry => ({
  id,
  region: "eu",
  lat: 50,
  lon: 8,
  api,
  urls: { flv: `http://${id}.example` },
  capacity: {},
  weight: 1,
  drain: false,
});

function registry() {
  let listener: ((view: RegistryView) => void) | null = null;
  return {
    feed: { subscribe: (l: (view: RegistryView) => void) => ((listener = l), () => (listener = null)) },
    set: (view: RegistryView) => listener?.(view),
  };
}

t.test("merge, drain and the same table while only loads change", async (t) => {
  let setConfigured: (edges: readonly EdgeEntry[]) => void = () => {};
  const configured: EdgeFeed = { subscribe: (l) => ((setConfigured = l), l([entry("fra")]), () => {}) };
  const reg = registry();
  const merged = new MergedEdgeFeed(configured, reg.feed);
  t.teardown(() => merged.close());
  const seen: { edges: readonly EdgeEntry[]; announced?: ReadonlyMap<string, EdgeLoad> }[] = [];
  merged.subscribe((edges, announced) => seen.push({ edges, announced }));

  const load = { sessions: 3, egressMbps: 1, cpu: 0.1 };
  reg.set({
    edges: [
      { entry: { ...entry("fra"), region: "elsewhere" }, load },
      { entry: entry("ams"), load },
    ],
    drained: new Set(["fra"]),
    live: true,
  });
  let last = seen.at(-1)!;
  t.same(
    last.edges.map((e) => [e.id, e.region, e.drain]),
    [
      ["fra", "eu", true],
      ["ams", "eu", false],
    ],
    "configured first and winning on the id; drained by the fleet",
  );
  t.same([...last.announced!], [["ams", load]], "only registered edges are announced");
  t.same(merged.configuredIds(), ["fra"]);

  const table = last.edges;
  const newer = { sessions: 9, egressMbps: 2, cpu: 0.2 };
  reg.set({ edges: [{ entry: entry("ams"), load: newer }], drained: new Set(["fra"]), live: true });
  last = seen.at(-1)!;
  t.equal(last.edges, table, "only a load changed: the same table");
  t.same(last.announced!.get("ams"), newer);

  reg.set({ edges: [{ entry: entry("ams"), load: newer }], drained: new Set(), live: false });
  last = seen.at(-1)!;
  t.same(last.announced!.size, 0, "registry unreadable: nothing counts as announced");
  t.same(
    last.edges.map((e) => [e.id, e.drain]),
    [
      ["fra", false],
      ["ams", false],
    ],
    "…and the last known edges stay",
  );
  setConfigured([]);
  t.same(
    seen.at(-1)!.edges.map((e) => e.id),
    ["ams"],
  );
});

t.test("announced edges are up without a probe; probed once no longer announced", async (t) => {
  const closed = await freePort(); // nothing listens: a probe fails
  const health = new HealthChecker({ intervalMs: 50, timeoutMs: 200, rise: 1, fall: 1 });
  t.teardown(() => health.close());
  const edges = [entry("ams", `http://127.0.0.1:${closed}`)];
  const load = { sessions: 5, egressMbps: 0, cpu: 0 };
  health.setEdges(edges, new Map([["ams", load]]));
  await health.start();
  await new Promise((r) => setTimeout(r, 200));
  t.match(health.snapshot(), [{ id: "ams", up: true, load, lastError: "" }], "up, with the announced load, never probed");
  health.setEdges(edges, new Map());
  await waitFor("probed and found down", () => health.snapshot()[0].up === false, 2_000);
  t.match(health.snapshot()[0].lastError, /ECONNREFUSED/);
});
