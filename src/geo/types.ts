// What a geo lookup answers, apart from how it is found: the MMDB reader (mmdb.ts), the overrides
// table (overrides.ts) and the lookup that combines them (geo.ts) all produce it, and the Guardian
// and the router consume it. In a file of its own that imports nothing, so the three geo files
// point one way (geo.ts → mmdb.ts and overrides.ts → types.ts) instead of in a circle (issue 11 §3).

export interface GeoResult {
  /** ISO 3166-1 alpha-2, uppercase. */
  readonly country?: string;
  readonly lat?: number;
  readonly lon?: number;
  /** Only from an override: route from this region's centre (unless lat/lon are given). */
  readonly region?: string;
  readonly source: "override" | "mmdb";
}

export interface Geo {
  /** null when nothing knows the address (or nothing is configured, or it is not an address). */
  lookup(ip: string): GeoResult | null;
  /** The oldest build time of the databases in force; undefined without databases. */
  readonly builtAt?: Date;
  close(): void;
}
