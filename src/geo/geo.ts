// The one geo lookup (DESIGN.md §1: Guardian country rules and routing share it): MaxMind-format
// `.mmdb` files, read with the maxmind package (mmdb-lib). `geo.mmdbPath` may list several files
// separated by commas, because @ip-location-db ships IPv4 and IPv6 as two databases.
//
// A database declares its IP version. mmdb-lib walks an IPv4-only database (ip_version 4) with
// the first 32 bits of an IPv6 address and answers with some unrelated network's record (seen
// here: 2a00:1450:4001::1 "CN" from the IPv4 file, "DE" from the IPv6 one), so each address is
// only ever asked of databases of its family. `::ffff:a.b.c.d` is asked as a.b.c.d.
import { readFileSync } from "node:fs";
import { Reader, type Response } from "maxmind";
import { formatV4, formatV6, parseAddress, wordsToBigInt } from "../guardian/ip.js";

export interface GeoResult {
  /** ISO 3166-1 alpha-2, uppercase. */
  readonly country?: string;
  readonly lat?: number;
  readonly lon?: number;
}

export interface Geo {
  /** null when no database knows the address (or none is configured, or it is not an address). */
  lookup(ip: string): GeoResult | null;
  /** The oldest build time of the open databases. */
  readonly builtAt?: Date;
  close(): void;
}

/** The two record shapes in use: MaxMind's GeoIP2/GeoLite2 and ip-location-db's flat one. */
interface GeoRecord {
  country?: { iso_code?: string };
  registered_country?: { iso_code?: string };
  location?: { latitude?: number; longitude?: number };
  country_code?: string;
  latitude?: number;
  longitude?: number;
}

function toResult(rec: GeoRecord): GeoResult | null {
  // The registered country stands in only where the database has no location-based one.
  const country = (rec.country?.iso_code ?? rec.country_code ?? rec.registered_country?.iso_code)?.toUpperCase();
  const lat = rec.location?.latitude ?? rec.latitude;
  const lon = rec.location?.longitude ?? rec.longitude;
  if (country === undefined && lat === undefined) return null;
  return { ...(country && { country }), ...(lat !== undefined && { lat }), ...(lon !== undefined && { lon }) };
}

const NONE: Geo = { lookup: () => null, close: () => {} };

/** Opens the databases at `mmdbPath` (comma-separated); "" = no geo data. Throws on an unreadable file. */
export function openGeo(mmdbPath: string): Geo {
  const paths = mmdbPath.split(",").map((p) => p.trim()).filter(Boolean);
  if (paths.length === 0) return NONE;
  const readers = paths.map((path) => {
    const reader = new Reader<Response>(readFileSync(path));
    const version = reader.metadata.ipVersion;
    if (version !== 4 && version !== 6) throw new Error(`${path}: unsupported ip_version ${version}`);
    return reader;
  });
  const v4 = readers; // an IPv6 database answers IPv4 addresses from its ::/96 subtree
  const v6 = readers.filter((r) => r.metadata.ipVersion === 6);
  const words = new Uint32Array(4);
  const builtAt = new Date(Math.min(...readers.map((r) => r.metadata.buildEpoch.getTime())));

  return {
    builtAt,
    lookup(ip) {
      const family = parseAddress(ip, words);
      if (family === 0) return null;
      const text = family === 4 ? formatV4(words[0]) : formatV6(wordsToBigInt(words));
      for (const reader of family === 4 ? v4 : v6) {
        const rec = reader.get(text) as GeoRecord | null;
        const result = rec && toResult(rec);
        if (result) return result;
      }
      return null;
    },
    close() {
      // Readers hold the whole file in memory; drop them so it can be collected.
      readers.length = 0;
      v6.length = 0;
    },
  };
}
