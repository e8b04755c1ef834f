// One MaxMind-format database, searched without mmdb-lib's per-call cost (issue 7 §2: a route
// request does two or more geo lookups plus a nearest-edge search). `Reader.get(text)` re-parses
// the address text, reads each tree node through a closure and `readUIntBE`, and decodes the
// record into fresh objects on every call. Here the tree is walked from the address words the
// caller already parsed, bytes are read straight from the buffer, and each record is decoded
// (through mmdb-lib, which keeps the data-section format its business) and converted once.
//
// The search tree (MaxMind DB spec, "Search Tree Section"): `nodeCount` nodes of two records
// each, `recordSize` (24, 28 or 32) bits per record. Starting at node 0 the address is consumed
// bit by bit, most significant first, 0 = left record, 1 = right. A record < nodeCount is the
// next node; = nodeCount means "no data"; > nodeCount points into the data section at
// (record - nodeCount) - 16 bytes past the tree (16 zero bytes separate tree and data). An IPv6
// database keeps IPv4 in ::/96, so an IPv4 address starts at the node reached by 96 zero bits.
import { Reader, type Response } from "maxmind";
import type { GeoResult } from "./types.js";

/** The two record shapes in use: MaxMind's GeoIP2/GeoLite2 and ip-location-db's flat one. */
interface GeoRecord {
  country?: { iso_code?: string };
  registered_country?: { iso_code?: string };
  location?: { latitude?: number; longitude?: number };
  country_code?: string;
  latitude?: number;
  longitude?: number;
}

function toResult(rec: GeoRecord | null): GeoResult | null {
  if (rec === null || typeof rec !== "object") return null;
  // The registered country stands in only where the database has no location-based one.
  const country = (rec.country?.iso_code ?? rec.country_code ?? rec.registered_country?.iso_code)?.toUpperCase();
  const lat = rec.location?.latitude ?? rec.latitude;
  const lon = rec.location?.longitude ?? rec.longitude;
  if (country === undefined && lat === undefined) return null;
  // Frozen: one object per record is handed to every caller.
  return Object.freeze({
    ...(country && { country }),
    ...(lat !== undefined && { lat }),
    ...(lon !== undefined && { lon }),
    source: "mmdb" as const,
  });
}

// GeoLite2 City (the 2026-06 build used in the tests) has 116k distinct records for IPv4 and
// 62k for IPv6, so this keeps a whole city database's converted records. A database with one
// record per network (millions) would grow the cache towards one object per record instead;
// clearing it at the bound costs a burst of re-decodes, where an LRU would cost bookkeeping on
// every hit of the hot path.
const MAX_CACHED_RECORDS = 200_000;

/** 96 zero bits: the path to an IPv6 database's IPv4 subtree. */
const ZERO = new Uint32Array(4);

export class MmdbDatabase {
  readonly ipVersion: 4 | 6;
  readonly builtAt: Date;
  private readonly nodeCount: number;
  private readonly recordSize: 24 | 28 | 32;
  private readonly nodeBytes: number;
  /** Where an IPv4 address's walk starts: 0 in an IPv4 database, the ::/96 node in an IPv6 one. */
  private readonly v4Start: number;
  /** File offset of data pointer p is p + dataShift. */
  private readonly dataShift: number;
  private readonly decode: (pointer: number) => unknown;
  private readonly records = new Map<number, GeoResult | null>();

  /** Throws an Error starting with `path` when the buffer is not a usable database. */
  constructor(
    readonly path: string,
    private readonly buf: Buffer,
  ) {
    const fail = (reason: string): never => {
      throw new Error(`${path}: ${reason}`);
    };
    let reader: Reader<Response>;
    try {
      reader = new Reader<Response>(buf);
    } catch (err) {
      throw new Error(`${path}: not a MaxMind DB file (${(err as Error).message})`);
    }
    const m = reader.metadata;
    if (m.ipVersion !== 4 && m.ipVersion !== 6) fail(`unsupported ip_version ${m.ipVersion}`);
    if (m.recordSize !== 24 && m.recordSize !== 28 && m.recordSize !== 32) fail(`unsupported record_size ${m.recordSize}`);
    if (!Number.isSafeInteger(m.nodeCount) || m.nodeCount <= 0) fail(`bad node_count ${m.nodeCount}`);
    const treeBytes = m.searchTreeSize;
    // A truncated or overwritten file fails here rather than answering from garbage.
    if (treeBytes + 16 > buf.length) fail(`search tree (${treeBytes} bytes) longer than the file (${buf.length})`);
    for (let i = treeBytes; i < treeBytes + 16; i++) if (buf[i] !== 0) fail("no data section separator after the search tree");
    // mmdb-lib declares resolveDataPointer private; it is the one decoder entry point that takes
    // a tree record. Checked here so a library change fails at start-up, not on a lookup.
    const resolve = (reader as unknown as { resolveDataPointer?: (p: number) => unknown }).resolveDataPointer;
    if (typeof resolve !== "function") fail("mmdb-lib has no resolveDataPointer (library changed)");
    this.decode = resolve!.bind(reader);
    this.ipVersion = m.ipVersion as 4 | 6;
    this.builtAt = m.buildEpoch;
    this.nodeCount = m.nodeCount;
    this.recordSize = m.recordSize as 24 | 28 | 32;
    this.nodeBytes = m.recordSize / 4;
    this.dataShift = treeBytes - m.nodeCount;
    this.v4Start = this.ipVersion === 4 ? 0 : this.walk(0, ZERO, 96);
  }

  /** IPv4 (family 4, address in words[0]) or IPv6 (family 6, words[0..3]). */
  lookup(family: 4 | 6, words: Uint32Array): GeoResult | null {
    const node = family === 4 ? this.walk(this.v4Start, words, 32) : this.walk(0, words, 128);
    return node > this.nodeCount ? this.record(node) : null;
  }

  /** Follows `bits` bits of `words` from `node`; returns where it stopped (a node, nodeCount, or a data pointer). */
  private walk(node: number, words: Uint32Array, bits: number): number {
    const buf = this.buf;
    const n = this.nodeCount;
    const size = this.recordSize;
    const bytes = this.nodeBytes;
    for (let i = 0; i < bits && node < n; i++) {
      const right = (words[i >>> 5] >>> (31 - (i & 31))) & 1;
      const o = node * bytes;
      if (size === 24) {
        const p = o + 3 * right;
        node = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2];
      } else if (size === 28) {
        // The middle byte holds the top 4 bits of both records: high nibble left, low right.
        const mid = buf[o + 3];
        node =
          right === 0
            ? ((mid & 0xf0) << 20) | (buf[o] << 16) | (buf[o + 1] << 8) | buf[o + 2]
            : ((mid & 0x0f) << 24) | (buf[o + 4] << 16) | (buf[o + 5] << 8) | buf[o + 6];
      } else {
        const p = o + 4 * right;
        node = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
      }
    }
    return node;
  }

  /** The converted record at data pointer `pointer`, decoded once. */
  private record(pointer: number): GeoResult | null {
    const cached = this.records.get(pointer);
    if (cached !== undefined) return cached;
    let result: GeoResult | null = null;
    if (pointer + this.dataShift < this.buf.length) {
      try {
        result = toResult(this.decode(pointer) as GeoRecord | null);
      } catch {
        // A corrupt record: no answer for these addresses rather than a failed request.
      }
    }
    if (this.records.size >= MAX_CACHED_RECORDS) this.records.clear();
    this.records.set(pointer, result);
    return result;
  }
}
