// Edge selection matrix with a fixed table (issue 7 tests §1), plus a property test of the rule
// "the chosen edge is eligible and no eligible edge is nearer by more than sameDistanceKm".
import t from "tap";
import fc from "fast-check";
import type { EdgeEntry } from "../../src/config/schema.js";
import { compileTable, select, type EdgeStatus, type SelectPolicy, type SelectQuery } from "../../src/routing/select.js";

const edge = (id: string, region: string, lat: number, lon: number, extra: Partial<EdgeEntry> = {}): EdgeEntry => ({
  id,
  region,
  lat,
  lon,
  api: "",
  weight: 1,
  drain: false,
  capacity: {},
  urls: { ingest: `rtmp://${id}.example:1935`, rtmp: `rtmp://${id}.example:1935`, flv: `http://${id}.example:8000` },
  ...extra,
});

const TABLE = [
  edge("fra-1", "eu", 50.11, 8.68),
  edge("fra-2", "eu", 50.12, 8.69),
  edge("ams-1", "eu", 52.37, 4.9),
  edge("nyc-1", "us", 40.71, -74.0),
  edge("sfo-1", "us", 37.77, -122.42, { urls: { rtmp: "rtmp://sfo-1.example:1935" } }),
];
const table = compileTable(TABLE);
const POLICY: SelectPolicy = { spillAt: 0.8, sameDistanceKm: 100, defaultRegion: "", alternatives: 2 };
const BERLIN = { lat: 52.52, lon: 13.4 };
const NEW_YORK = { lat: 40.73, lon: -73.99 };

const status = (over: Partial<Record<string, { healthy?: boolean; load?: number }>> = {}): EdgeStatus => ({
  healthy: TABLE.map((e) => ((over[e.id]?.healthy ?? true) ? 1 : 0)),
  load: TABLE.map((e) => over[e.id]?.load ?? 0),
});
const ask = (q: Partial<SelectQuery>, st = status(), policy = POLICY, tbl = table) =>
  select(tbl, st, { place: BERLIN, stream: "s1", way: "flv", ...q }, policy);
const chosenId = (s: ReturnType<typeof ask>, tbl = table) => (s.reason === "none" ? "none" : tbl.edges[s.chosen.index].id);
const altIds = (s: ReturnType<typeof ask>) => (s.reason === "none" ? [] : s.alternatives.map((a) => table.edges[a.index].id));

t.test("distance order: nearest band first, then the next nearest", async (t) => {
  const berlin = ask({});
  t.equal(berlin.reason, "nearest");
  t.match(chosenId(berlin), /^fra-[12]$/, "Frankfurt's two edges are one band for a Berlin client");
  t.ok(berlin.reason !== "none" && Math.abs(berlin.chosen.distanceKm! - 424) < 5, "Berlin–Frankfurt ≈ 424 km");
  t.same(altIds(berlin).slice(1), ["ams-1"], "then Amsterdam");
  const ny = ask({ place: NEW_YORK, way: "rtmp" });
  t.equal(chosenId(ny), "nyc-1");
  t.equal(altIds(ny)[0], "sfo-1", "then San Francisco");
  t.match(altIds(ny)[1], /^(fra|ams)/, "then Europe");
});

t.test("an edge without a URL for the way is never chosen for it", async (t) => {
  const sf = { lat: 37.78, lon: -122.4 };
  t.equal(chosenId(ask({ place: sf, way: "rtmp" })), "sfo-1");
  t.equal(chosenId(ask({ place: sf, way: "flv" })), "nyc-1", "sfo-1 has no flv URL");
  t.equal(chosenId(ask({ place: sf, way: "ingest" })), "nyc-1");
});

t.test("spill at the headroom threshold, inside the band first, then to the next band", async (t) => {
  const first = chosenId(ask({}));
  const other = first === "fra-1" ? "fra-2" : "fra-1";
  const one = ask({}, status({ [first]: { load: 0.8 } }));
  t.equal(one.reason, "spill");
  t.equal(chosenId(one), other, "the band's next edge takes the overflow");
  t.equal(ask({}, status({ [first]: { load: 0.79 } })).reason, "nearest", "just under spillAt keeps it");
  const both = ask({}, status({ "fra-1": { load: 0.9 }, "fra-2": { load: 1.5 } }));
  t.equal(both.reason, "spill");
  t.equal(chosenId(both), "ams-1");
  const all = ask({}, status({ "fra-1": { load: 0.9 }, "fra-2": { load: 0.9 }, "ams-1": { load: 0.95 } }));
  t.equal(chosenId(all), "nyc-1", "Europe full: across the ocean");
});

t.test("unhealthy and draining edges are skipped; the nearest usable edge is `nearest`", async (t) => {
  const down = ask({}, status({ "fra-1": { healthy: false }, "fra-2": { healthy: false } }));
  t.equal(down.reason, "nearest");
  t.equal(chosenId(down), "ams-1");
  const drained = compileTable(TABLE.map((e) => (e.id.startsWith("fra") ? { ...e, drain: true } : e)));
  t.equal(chosenId(ask({}, status(), POLICY, drained), drained), "ams-1");
  const none = ask({}, { healthy: TABLE.map(() => 0), load: TABLE.map(() => 0) });
  t.equal(none.reason, "none");
});

t.test("weights share the streams of a band; one stream always lands on one edge", async (t) => {
  const weighted = compileTable(TABLE.map((e) => (e.id === "fra-1" ? { ...e, weight: 3 } : e)));
  let fra1 = 0;
  const N = 20_000;
  for (let i = 0; i < N; i++) if (chosenId(ask({ stream: `stream-${i}` }, status(), POLICY, weighted), weighted) === "fra-1") fra1++;
  t.ok(Math.abs(fra1 / N - 0.75) < 0.02, `weight 3:1 → ${((100 * fra1) / N).toFixed(1)}% on fra-1`);
  let even = 0;
  for (let i = 0; i < N; i++) if (chosenId(ask({ stream: `stream-${i}` })) === "fra-1") even++;
  t.ok(Math.abs(even / N - 0.5) < 0.02, `equal weights → ${((100 * even) / N).toFixed(1)}% on fra-1`);
  // Viewers of one stream from anywhere near Berlin: the same edge (one origin pull).
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(chosenId(ask({ stream: "popular", place: { lat: 52 + (i % 10) / 10, lon: 13 + (i % 7) / 10 } })));
  t.equal(seen.size, 1, "consistent: one edge per stream and band");
});

t.test("stickiness: the client's edge while it stays eligible, up to its full capacity", async (t) => {
  const s = ask({ sticky: "ams-1" });
  t.equal(s.reason, "sticky");
  t.equal(chosenId(s), "ams-1");
  t.equal(chosenId(ask({ sticky: "ams-1" }, status({ "ams-1": { load: 0.95 } }))), "ams-1", "headroom above spillAt is for sticky clients");
  t.not(ask({ sticky: "ams-1" }, status({ "ams-1": { load: 1 } })).reason, "sticky", "full: moved");
  t.not(ask({ sticky: "ams-1" }, status({ "ams-1": { healthy: false } })).reason, "sticky", "down: moved");
  t.not(ask({ sticky: "sfo-1", way: "flv" }).reason, "sticky", "no URL for the way: moved");
  t.equal(ask({ sticky: "gone-edge" }).reason, "nearest", "an edge no longer in the table is ignored");
  t.notOk(altIds(s).includes("ams-1"), "the sticky edge is not its own alternative");
});

t.test("unplaced clients: the default region's centre, or one hash-ordered band", async (t) => {
  const us = ask({ place: null }, status(), { ...POLICY, defaultRegion: "us" });
  t.match(chosenId(us), /^(nyc|sfo)-1$/);
  t.ok(us.reason !== "none" && us.chosen.distanceKm !== null, "distance from the region's centre");
  const region = ask({ place: { region: "eu" } });
  t.match(chosenId(region), /^(fra|ams)/, "an override with a region but no coordinates");
  const nowhere = ask({ place: null });
  t.not(nowhere.reason, "none");
  t.equal(nowhere.reason !== "none" && nowhere.chosen.distanceKm, null, "no distance to report");
  t.equal(chosenId(ask({ place: null, stream: "x" })), chosenId(ask({ place: null, stream: "x" })), "still consistent per stream");
});

t.test("property: the chosen edge is eligible and none eligible is nearer by more than a band", async (t) => {
  const arbEdge = fc.record({
    lat: fc.double({ min: -89, max: 89, noNaN: true }),
    lon: fc.double({ min: -179, max: 179, noNaN: true }),
    healthy: fc.boolean(),
    load: fc.double({ min: 0, max: 1.2, noNaN: true }),
    drain: fc.boolean(),
    weight: fc.integer({ min: 1, max: 5 }),
  });
  const haversine = (a: { lat: number; lon: number }, b: { lat: number; lon: number }) => {
    const r = Math.PI / 180;
    const h = Math.sin(((b.lat - a.lat) * r) / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(((b.lon - a.lon) * r) / 2) ** 2;
    return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
  };
  let checked = 0;
  fc.assert(
    fc.property(
      fc.array(arbEdge, { minLength: 1, maxLength: 30 }),
      fc.double({ min: -89, max: 89, noNaN: true }),
      fc.double({ min: -179, max: 179, noNaN: true }),
      fc.integer({ min: 0, max: 1500 }),
      (rows, lat, lon, band) => {
        const entries = rows.map((r, i) => edge(`e${i}`, "r", r.lat, r.lon, { drain: r.drain, weight: r.weight }));
        const tbl = compileTable(entries);
        const st = { healthy: rows.map((r) => (r.healthy ? 1 : 0)), load: rows.map((r) => r.load) };
        const policy = { ...POLICY, sameDistanceKm: band };
        const place = { lat, lon };
        const s = select(tbl, st, { place, stream: "p", way: "flv" }, policy);
        // The same place again answers from the place cache: the same answer, also after health
        // and load change (the cache keeps distances only), as a fresh table would give.
        if (JSON.stringify(select(tbl, st, { place, stream: "p", way: "flv" }, policy)) !== JSON.stringify(s)) return false;
        const changed = { healthy: st.healthy.map((h, i) => (i % 3 === 0 ? 1 - h : h)), load: st.load.map((l, i) => (i % 2 ? l / 2 : l)) };
        const fresh = select(compileTable(entries), changed, { place: { lat, lon }, stream: "p", way: "flv" }, policy);
        if (JSON.stringify(select(tbl, changed, { place, stream: "p", way: "flv" }, policy)) !== JSON.stringify(fresh)) return false;
        const eligible = rows.map((r, i) => ({ r, i, d: haversine({ lat, lon }, r) })).filter(({ r }) => r.healthy && !r.drain && r.load < policy.spillAt);
        checked++;
        if (s.reason === "none") return eligible.length === 0;
        const c = rows[s.chosen.index];
        const d = haversine({ lat, lon }, c);
        if (!(c.healthy && !c.drain && c.load < policy.spillAt)) return false;
        if (Math.abs(d - s.chosen.distanceKm!) > 0.5) return false;
        // Bands start at the nearest remaining usable edge, so the winner is at most `band` beyond the nearest eligible one.
        return eligible.every((e) => e.d >= d - band - 0.5);
      },
    ),
    { seed: 7, numRuns: 3000 },
  );
  t.equal(checked, 3000);
});
