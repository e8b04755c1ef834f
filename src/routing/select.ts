// Edge selection (issue 7 §4), pure: given the edge table, each edge's health and load, and where
// the client is, which edge serves this stream — and why. No I/O, no clock; the router passes in
// everything (src/routing/router.ts). The compiled table carries working memory and a per-place
// cache of distances; they change how fast an answer comes, never which.
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
  /** 1 where the edge has a URL for the way and is not draining. */
  readonly open: Readonly<Record<Way, Uint8Array>>;
  /** Base URLs per way without a trailing slash ("" where the edge has none). */
  readonly base: Readonly<Record<Way, readonly string[]>>;
  /** How many edges are open per way. */
  readonly openCount: Readonly<Record<Way, number>>;
  /** Per way: the `near` list of places seen before (see select()). */
  readonly nearOf: Readonly<Record<Way, PlaceCache>>;
  readonly indexOf: ReadonlyMap<string, number>;
  /** Unit vector of the mean position of each region's edges. */
  readonly regionCentre: ReadonlyMap<string, readonly [number, number, number]>;
  /**
   * Working memory of select(), sized to the table and reused (select is synchronous): typed
   * arrays allocated per call were most of its cost (off-heap backing stores, GC sweeps).
   */
  readonly scratch: { dot: Float64Array; score: Float64Array; candidates: Int32Array; near: Int32Array; band: Int32Array };
}

/**
 * Per way, the unit vector and the NEAR nearest open edges of places seen before, in flat typed
 * arrays (a place costs 57 bytes, no object): the whole GeoLite2 City IPv4 set (116k records)
 * fits. Past `capacity` places it starts over.
 */
export class PlaceCache {
  private readonly slotOf = new Map<object, number>();
  private vectors: Float64Array | null = null;
  private nearest: Int32Array | null = null;
  private counts: Uint8Array | null = null;

  constructor(private readonly capacity: number) {}

  /** The slot of `place`, or -1. */
  slot(place: object): number {
    return this.slotOf.get(place) ?? -1;
  }

  add(place: object, v: readonly [number, number, number], near: Int32Array, count: number): void {
    // Allocated on first use: most tables serve one or two ways.
    this.vectors ??= new Float64Array(this.capacity * 3);
    this.nearest ??= new Int32Array(this.capacity * NEAR);
    this.counts ??= new Uint8Array(this.capacity);
    if (this.slotOf.size >= this.capacity) this.slotOf.clear();
    const slot = this.slotOf.size;
    this.slotOf.set(place, slot);
    this.vectors.set(v, slot * 3);
    this.nearest.set(near.subarray(0, count), slot * NEAR);
    this.counts[slot] = count;
  }

  vector(slot: number, axis: 0 | 1 | 2): number {
    return this.vectors![slot * 3 + axis];
  }

  /** Copies the slot's edges into `near`; returns how many. */
  nearInto(slot: number, near: Int32Array): number {
    const count = this.counts![slot];
    near.set(this.nearest!.subarray(slot * NEAR, slot * NEAR + count));
    return count;
  }
}

/** What the health checker knows about each edge, by table index. */
export interface EdgeStatus {
  /** 1 = healthy. */
  readonly healthy: ArrayLike<number>;
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
  { readonly reason: Exclude<RouteReason, "fallback">; readonly chosen: Pick; readonly alternatives: readonly Pick[] } | { readonly reason: "none" };

function unit(lat: number, lon: number): [number, number, number] {
  const la = lat * RAD;
  const lo = lon * RAD;
  return [Math.cos(la) * Math.cos(lo), Math.cos(la) * Math.sin(lo), Math.sin(la)];
}

/** 32-bit FNV-1a: a stable hash of an id or stream name (not a security boundary); `h` chains. */
export function hash32(s: string, h = 0x811c9dc5): number {
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

const WAYS: readonly Way[] = ["ingest", "rtmp", "flv"];
/** How many of the nearest usable edges select() keeps sorted while it scans the table. */
const NEAR = 8;

export function compileTable(edges: readonly EdgeEntry[]): EdgeTable {
  const n = edges.length;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const z = new Float64Array(n);
  const seed = new Uint32Array(n);
  const open = { ingest: new Uint8Array(n), rtmp: new Uint8Array(n), flv: new Uint8Array(n) };
  const base: Record<Way, string[]> = { ingest: [], rtmp: [], flv: [] };
  const indexOf = new Map<string, number>();
  const sums = new Map<string, [number, number, number]>();
  edges.forEach((e, i) => {
    [x[i], y[i], z[i]] = unit(e.lat, e.lon);
    seed[i] = hash32(e.id);
    for (const way of WAYS) {
      const url = e.urls[way];
      open[way][i] = url !== undefined && !e.drain ? 1 : 0;
      base[way].push(url === undefined ? "" : url.replace(/\/+$/, ""));
    }
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
  const scratch = { dot: new Float64Array(n), score: new Float64Array(n), candidates: new Int32Array(n), near: new Int32Array(NEAR), band: new Int32Array(n) };
  const openCount = { ingest: 0, rtmp: 0, flv: 0 };
  for (const way of WAYS) for (const o of open[way]) openCount[way] += o;
  const nearOf = { ingest: new PlaceCache(CACHED_PLACES), rtmp: new PlaceCache(CACHED_PLACES), flv: new PlaceCache(CACHED_PLACES) };
  return { edges, x, y, z, seed, open, base, openCount, nearOf, indexOf, regionCentre, scratch };
}

/** Great-circle distance in km for the cosine of the central angle. */
const km = (dot: number) => Math.acos(dot > 1 ? 1 : dot < -1 ? -1 : dot) * EARTH_RADIUS_KM;

function placeVector(table: EdgeTable, place: ClientPlace | null, defaultRegion: string): readonly [number, number, number] | null {
  if (place?.lat !== undefined && place.lon !== undefined) return unit(place.lat, place.lon);
  const region = place?.region ?? defaultRegion;
  return table.regionCentre.get(region) ?? table.regionCentre.get(defaultRegion) ?? null;
}

/** Places whose `near` list is kept per way (PlaceCache). */
const CACHED_PLACES = 131_072;

/**
 * Fills `near` with the NEAR open edges nearest to (vx, vy, vz), sorted, and `candidates` with
 * the other open edges; sets `dot` for all. Returns how many are in `near`.
 */
function nearestOpen(table: EdgeTable, open: Uint8Array, n: number, vx: number, vy: number, vz: number): number {
  const { dot, candidates, near } = table.scratch;
  const { x, y, z } = table;
  let count = 0;
  let top = 0;
  for (let i = 0; i < n; i++) {
    const d = x[i] * vx + y[i] * vy + z[i] * vz;
    dot[i] = d;
    if (open[i] !== 1) continue;
    if (top === NEAR && d <= dot[near[NEAR - 1]]) {
      candidates[count++] = i;
      continue;
    }
    if (top === NEAR) candidates[count++] = near[--top]; // the farthest of `near` makes room
    let at = top++;
    while (at > 0 && dot[near[at - 1]] < d) {
      near[at] = near[at - 1];
      at--;
    }
    near[at] = i;
  }
  return top;
}

// Not a closure inside select(): a closure over `dot` would make every access to it in the
// hot loop go through a context object (measured: twice the time per edge).
const pickOf = (i: number, dot: Float64Array, placed: boolean): Pick => ({ index: i, distanceKm: placed ? km(dot[i]) : null });

export function select(table: EdgeTable, status: EdgeStatus, query: SelectQuery, policy: SelectPolicy): Selection {
  const { healthy, load } = status;
  const way = query.way;
  const open = table.open[way];
  const { dot, score, candidates, near, band } = table.scratch;
  const n = table.edges.length;
  // The open edges (URL for the way, not draining) by distance: the NEAR nearest, sorted, in
  // `near`; the rest, unsorted, in `candidates`. A place seen before (the geo answer object is
  // shared per database record) has its `near` list cached — it ignores health and load, which
  // the walk below checks — so most calls skip the pass over the table.
  // Only coordinates are cached: a place named by region depends on the policy's default region.
  const p = query.place;
  const cache = p && p.lat !== undefined && p.lon !== undefined ? table.nearOf[way] : null;
  const slot = cache ? cache.slot(p!) : -1;
  const v = slot >= 0 ? null : placeVector(table, query.place, policy.defaultRegion);
  const placed = slot >= 0 || v !== null;
  const vx = slot >= 0 ? cache!.vector(slot, 0) : v ? v[0] : 0;
  const vy = slot >= 0 ? cache!.vector(slot, 1) : v ? v[1] : 0;
  const vz = slot >= 0 ? cache!.vector(slot, 2) : v ? v[2] : 0;

  const stickyIndex = query.sticky === undefined ? -1 : (table.indexOf.get(query.sticky) ?? -1);
  const sticky = stickyIndex >= 0 && open[stickyIndex] === 1 && healthy[stickyIndex] === 1 && load[stickyIndex] < 1;
  const skip = sticky ? stickyIndex : -1; // not its own alternative

  let top = 0;
  let count = 0; // candidates gathered
  let partial = false; // open edges exist beyond a cached `near` list, not gathered yet
  if (slot >= 0) {
    top = cache!.nearInto(slot, near);
    partial = table.openCount[way] > top;
    for (let k = 0; k < top; k++) {
      const i = near[k];
      dot[i] = table.x[i] * vx + table.y[i] * vy + table.z[i] * vz;
    }
  } else {
    top = nearestOpen(table, open, n, vx, vy, vz);
    count = table.openCount[way] - top;
    if (cache && v) cache.add(p!, v, near, top);
  }

  const chosen: number[] = [];
  const want = 1 + policy.alternatives;
  const streamHash = hash32(query.stream);
  const bandAngle = policy.sameDistanceKm / EARTH_RADIUS_KM;
  let first = -1; // the first usable edge of the order: "nearest" if it wins
  // Walk the edges band by band until the answer and its alternatives are found. A walk that
  // runs past a cached `near` list starts again with the full pass.
  walk: for (;;) {
    chosen.length = 0;
    if (sticky) chosen.push(stickyIndex);
    first = -1;
    let next = 0; // the first of `near` not yet taken; every edge of `near` is nearer than every candidate
    while (chosen.length < want) {
      while (next < top && (healthy[near[next]] !== 1 || near[next] === skip)) next++;
      if (next === top && partial) {
        top = nearestOpen(table, open, n, vx, vy, vz);
        count = table.openCount[way] - top;
        partial = false;
        continue walk;
      }
      let best = next < top ? near[next] : -1;
      if (best < 0) {
        for (let k = 0; k < count; k++) {
          const i = candidates[k];
          if (healthy[i] === 1 && i !== skip && (best < 0 || dot[i] > dot[best])) best = i;
        }
        if (best < 0) break;
      }
      // The band's far edge as a dot-product bound; past the antipode every edge is in it.
      const far = placed ? Math.acos(Math.min(1, dot[best])) + bandAngle : Math.PI;
      const limit = far >= Math.PI ? -Infinity : Math.min(Math.cos(far), dot[best]);
      let size = 0;
      for (; next < top && dot[near[next]] >= limit; next++) {
        const i = near[next];
        if (healthy[i] === 1 && i !== skip) band[size++] = i;
      }
      // Only a band that runs past the end of `near` reaches into the candidates.
      if (next === top) {
        if (partial) {
          top = nearestOpen(table, open, n, vx, vy, vz);
          count = table.openCount[way] - top;
          partial = false;
          continue walk;
        }
        for (let k = 0; k < count;) {
          const i = candidates[k];
          if (dot[i] < limit || healthy[i] !== 1 || i === skip) k++;
          else {
            candidates[k] = candidates[--count]; // taken out of the remaining candidates
            band[size++] = i;
          }
        }
      }
      // Weighted rendezvous hashing: score = −w / ln(u), u uniform in (0, 1).
      for (let k = 0; k < size; k++) {
        const i = band[k];
        score[i] = -table.edges[i].weight / Math.log((mix(streamHash, table.seed[i]) + 0.5) / 4294967296);
      }
      // Bands are usually small (edges of one site or city): insertion sort by score, ties by
      // index; a wide band (unplaced clients see one band of every edge) takes the library sort.
      if (size > 16) band.subarray(0, size).sort((a, b) => score[b] - score[a] || a - b);
      else
        for (let a = 1; a < size; a++) {
          const i = band[a];
          let b = a - 1;
          while (b >= 0 && (score[band[b]] < score[i] || (score[band[b]] === score[i] && band[b] > i))) {
            band[b + 1] = band[b];
            b--;
          }
          band[b + 1] = i;
        }
      for (let k = 0; k < size && chosen.length < want; k++) {
        const i = band[k];
        if (first < 0) first = i;
        if (load[i] < policy.spillAt) chosen.push(i);
      }
    }
    break;
  }
  if (chosen.length === 0) return { reason: "none" };
  const reason = sticky ? "sticky" : chosen[0] === first ? "nearest" : "spill";
  const alternatives: Pick[] = [];
  for (let k = 1; k < chosen.length; k++) alternatives.push(pickOf(chosen[k], dot, placed));
  return { reason, chosen: pickOf(chosen[0], dot, placed), alternatives };
}
