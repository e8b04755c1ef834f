// Edge selection (issue 7 §4), pure: given the edge table, each edge's health and load, and where
// the client is, which edge serves this stream — and why. No I/O, no clock; the router passes in
// everything (src/routing/router.ts).
//
// Order of candidates:
//   1. sticky — the edge this client had for this stream, while it is healthy, not draining and
//      under its full capacity (the headroom above `spillAt` is kept for exactly these clients);
//   2. by great-circle distance, in bands: edges within `sameDistanceKm` of the nearest remaining
//      one count as equally near. Inside a band, weighted rendezvous hashing on the stream name
//      orders the edges, so every viewer of a stream in a region lands on the same edge (one
//      origin pull) until it fills, then on the next one of the same order — few edges per
//      stream and region, spread over the band by weight across streams;
//   3. the first candidate under `spillAt` of its capacity wins: `nearest` when it is the first
//      healthy edge of the order, `spill` when load pushed the client further (Envoy's
//      over-provisioning idea: an edge keeps its traffic until it runs out of headroom, then the
//      overflow spills to the next locality);
//   4. nothing eligible: the configured fallback, or no answer.
import type { EdgeEntry } from "../config/schema.js";

export type Way = "ingest" | "rtmp" | "flv";
export type RouteReason = "nearest" | "spill" | "sticky" | "fallback";

const EARTH_RADIUS_KM = 6371.0088; // mean radius (IUGG)
const RAD = Math.PI / 180;

/** The edge table compiled for fast selection: unit vectors, hash seeds, region centres. */
export interface EdgeTable {
  readonly edges: readonly EdgeEntry[];
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly z: Float64Array;
  readonly seed: Uint32Array;
  readonly indexOf: ReadonlyMap<string, number>;
  /** Unit vector of the mean position of each region's edges. */
  readonly regionCentre: ReadonlyMap<string, readonly [number, number, number]>;
}

/** What the health checker knows about each edge, by table index. */
export interface EdgeStatus {
  readonly healthy: ArrayLike<boolean>;
  /** max(sessions / capacity.sessions, egress / capacity.egressMbps); 0 without a capacity. */
  readonly load: ArrayLike<number>;
}

export interface SelectPolicy {
  readonly spillAt: number;
  readonly sameDistanceKm: number;
  readonly defaultRegion: string;
  /** How many further eligible edges an answer lists for client-side failover. */
  readonly alternatives: number;
}

export interface ClientPlace {
  readonly lat?: number;
  readonly lon?: number;
  /** From a geo override without coordinates: routed from this region's centre. */
  readonly region?: string;
}

export interface SelectQuery {
  readonly place: ClientPlace | null;
  readonly stream: string;
  readonly way: Way;
  /** The edge id this client had for this stream, if any. */
  readonly sticky?: string;
}

export interface Pick {
  readonly index: number;
  /** null when the client could not be placed (no location, no default region). */
  readonly distanceKm: number | null;
}

export type Selection =
  | { readonly reason: Exclude<RouteReason, "fallback">; readonly chosen: Pick; readonly alternatives: readonly Pick[] }
  | { readonly reason: "none" };

function unit(lat: number, lon: number): [number, number, number] {
  const la = lat * RAD;
  const lo = lon * RAD;
  return [Math.cos(la) * Math.cos(lo), Math.cos(la) * Math.sin(lo), Math.sin(la)];
}

/** 32-bit FNV-1a: a stable hash of an id or stream name (not a security boundary). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finaliser: mixes a stream hash with an edge seed into a uniform 32-bit value. */
function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function compileTable(edges: readonly EdgeEntry[]): EdgeTable {
  const n = edges.length;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const z = new Float64Array(n);
  const seed = new Uint32Array(n);
  const indexOf = new Map<string, number>();
  const sums = new Map<string, [number, number, number]>();
  edges.forEach((e, i) => {
    [x[i], y[i], z[i]] = unit(e.lat, e.lon);
    seed[i] = hash32(e.id);
    indexOf.set(e.id, i);
    const s = sums.get(e.region) ?? [0, 0, 0];
    s[0] += x[i];
    s[1] += y[i];
    s[2] += z[i];
    sums.set(e.region, s);
  });
  const regionCentre = new Map<string, readonly [number, number, number]>();
  for (const [region, [sx, sy, sz]] of sums) {
    const len = Math.hypot(sx, sy, sz);
    // Edges on opposite sides of the globe in one region have no centre; route as unplaced.
    if (len > 1e-9) regionCentre.set(region, [sx / len, sy / len, sz / len]);
  }
  return { edges, x, y, z, seed, indexOf, regionCentre };
}

const hasWay = (e: EdgeEntry, way: Way) => e.urls[way] !== undefined;

/** Great-circle distance in km for the cosine of the central angle. */
const km = (dot: number) => Math.acos(dot > 1 ? 1 : dot < -1 ? -1 : dot) * EARTH_RADIUS_KM;

function placeVector(table: EdgeTable, place: ClientPlace | null, defaultRegion: string): readonly [number, number, number] | null {
  if (place?.lat !== undefined && place.lon !== undefined) return unit(place.lat, place.lon);
  const region = place?.region ?? defaultRegion;
  return table.regionCentre.get(region) ?? table.regionCentre.get(defaultRegion) ?? null;
}

export function select(table: EdgeTable, status: EdgeStatus, query: SelectQuery, policy: SelectPolicy): Selection {
  const { edges } = table;
  const { healthy, load } = status;
  const n = edges.length;
  const usable = (i: number) => healthy[i] && !edges[i].drain && hasWay(edges[i], query.way);
  const v = placeVector(table, query.place, policy.defaultRegion);
  // Unplaced clients see every edge at the same distance: one band, hash order.
  const dot = new Float64Array(n);
  if (v) for (let i = 0; i < n; i++) dot[i] = table.x[i] * v[0] + table.y[i] * v[1] + table.z[i] * v[2];
  const pick = (i: number): Pick => ({ index: i, distanceKm: v ? km(dot[i]) : null });

  const chosen: number[] = [];
  const stickyIndex = query.sticky === undefined ? undefined : table.indexOf.get(query.sticky);
  const sticky = stickyIndex !== undefined && usable(stickyIndex) && load[stickyIndex] < 1;
  if (sticky) chosen.push(stickyIndex);

  // Walk the candidates band by band until the answer and its alternatives are found.
  const want = 1 + policy.alternatives;
  const taken = new Uint8Array(n);
  if (sticky) taken[stickyIndex] = 1;
  const streamHash = hash32(query.stream);
  const bandAngle = policy.sameDistanceKm / EARTH_RADIUS_KM;
  let first = -1; // the first usable edge of the order: "nearest" if it wins
  const band: number[] = [];
  const score = new Float64Array(n);
  while (chosen.length < want) {
    let best = -1;
    for (let i = 0; i < n; i++) if (!taken[i] && usable(i) && (best < 0 || dot[i] > dot[best])) best = i;
    if (best < 0) break;
    // The band's far edge as a dot-product bound; past the antipode every edge is in it.
    const far = v ? Math.acos(Math.min(1, dot[best])) + bandAngle : Math.PI;
    const limit = far >= Math.PI ? -Infinity : Math.min(Math.cos(far), dot[best]);
    band.length = 0;
    for (let i = 0; i < n; i++) {
      if (taken[i] || !usable(i) || dot[i] < limit) continue;
      taken[i] = 1;
      band.push(i);
      // Weighted rendezvous hashing: score = −w / ln(u), u uniform in (0, 1).
      score[i] = -edges[i].weight / Math.log((mix(streamHash, table.seed[i]) + 0.5) / 4294967296);
    }
    band.sort((a, b) => score[b] - score[a] || a - b);
    for (const i of band) {
      if (first < 0) first = i;
      if (chosen.length < want && load[i] < policy.spillAt) chosen.push(i);
    }
  }
  if (chosen.length === 0) return { reason: "none" };
  const [head, ...rest] = chosen;
  const reason = sticky ? "sticky" : head === first ? "nearest" : "spill";
  return { reason, chosen: pick(head), alternatives: rest.map(pick) };
}
