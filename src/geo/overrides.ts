// The geo load-balancing table (issue 7 §2): networks placed by hand — private ranges, an ISP the
// database gets wrong, a customer's office — checked before the MMDB. The most specific (longest
// prefix) matching entry answers alone: its fields are the whole answer, never mixed with the
// database's, so an override can say "this network is region eu-test" without inheriting a
// country or coordinates that contradict it.
//
// Up to 100k entries (config maxItems) and one lookup per route request, so no scan (docs/decisions.md
// §5): the entries compile into the Guardian's interval tables (src/primitives/intervals.ts). No
// entry expires, so every chain ends at its first entry — the most specific override.
import type { GeoOverride } from "../config/schema.js";
import { chainWinner, Chains, ipTable, sweep, v4Lookup, v6Lookup, type IpTable, type RangeList } from "../primitives/intervals.js";
import { networkInto } from "../primitives/ip.js";
import type { GeoResult } from "./types.js";

/** A bad override entry, with the config key path of the offending field. */
export class GeoOverrideError extends Error {
  constructor(
    /** e.g. `geo.overrides.3.cidr` */
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = "GeoOverrideError";
  }
}

export interface OverrideTable {
  /** The most specific override holding the address (family 4: words[0]; 6: words[0..3]), or null. */
  lookup(family: 4 | 6, words: Uint32Array): GeoResult | null;
}

function toResult(o: GeoOverride): GeoResult {
  return Object.freeze({
    ...(o.country !== undefined && { country: o.country.toUpperCase() }),
    ...(o.lat !== undefined && { lat: o.lat }),
    ...(o.lon !== undefined && { lon: o.lon }),
    ...(o.region !== undefined && { region: o.region }),
    source: "override" as const,
  });
}

/**
 * Compiles the overrides; null for none. Throws GeoOverrideError naming `${at}.N.field` for an
 * invalid or repeated network (a repeat would leave one of the two silently dead) and for
 * coordinates given by halves.
 */
export function compileOverrides(list: readonly GeoOverride[], at = "geo.overrides"): OverrideTable | null {
  const n = list.length;
  if (n === 0) return null;
  const results: GeoResult[] = [];
  const family = new Uint8Array(n);
  const prefix = new Uint8Array(n);
  const words = new Uint32Array(4 * n);
  const scratch = new Uint32Array(4);
  const seen = new Map<string, number>();
  let v4Count = 0;
  list.forEach((o, i) => {
    const parsed = typeof o.cidr === "string" ? networkInto(o.cidr, scratch) : "must be a string";
    if (typeof parsed === "string") throw new GeoOverrideError(`${at}.${i}.cidr`, `${JSON.stringify(o.cidr)}: ${parsed}`);
    if ((o.lat === undefined) !== (o.lon === undefined)) {
      throw new GeoOverrideError(`${at}.${i}.${o.lat === undefined ? "lat" : "lon"}`, "lat and lon go together");
    }
    family[i] = parsed >> 8;
    prefix[i] = parsed & 255;
    // One key per network however it was written (`::ffff:10.0.0.0/104` is 10.0.0.0/8).
    const key = family[i] === 4 ? `${scratch[0]}/${prefix[i]}` : `${scratch.join(":")}/${prefix[i]}/6`;
    const first = seen.get(key);
    if (first !== undefined) throw new GeoOverrideError(`${at}.${i}.cidr`, `${JSON.stringify(o.cidr)}: the same network as ${at}.${first}.cidr`);
    seen.set(key, i);
    words.set(scratch, 4 * i);
    if (family[i] === 4) v4Count++;
    results.push(toResult(o));
  });

  const expires = new Float64Array(n).fill(Infinity);
  const chains = new Chains();
  const table = (fam: 4 | 6, count: number): IpTable | null => {
    if (count === 0) return null;
    const width = fam === 4 ? 1 : 4;
    const ranges: RangeList = { width, count, starts: new Uint32Array(count * width), prefix: new Uint8Array(count), rule: new Int32Array(count) };
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (family[i] !== fam) continue;
      for (let w = 0; w < width; w++) ranges.starts[k * width + w] = words[4 * i + w];
      ranges.prefix[k] = prefix[i];
      ranges.rule[k++] = i;
    }
    return ipTable(sweep(ranges, chains, expires), width);
  };
  const v4 = table(4, v4Count);
  const v6 = table(6, n - v4Count);
  const data = Int32Array.from(chains.data);

  return {
    lookup(fam, w) {
      const t = fam === 4 ? v4 : v6;
      if (t === null) return null;
      const r = chainWinner(data, fam === 4 ? v4Lookup(t, w[0]) : v6Lookup(t, w), expires, 0);
      return r < 0 ? null : results[r];
    },
  };
}
