// A minimal MaxMind DB writer for tests (MaxMind DB spec 2.0): the real GeoLite2 files use
// 24-bit records and an IPv6 file without an IPv4 subtree, so 28- and 32-bit records, record
// values of 2^24 and more (the 28-bit format's shared nibble byte) and IPv4 inside an IPv6
// database are only exercised by databases built here. Zero padding in the data section pushes
// records past 16 MiB cheaply.

export interface Network {
  /** Big-endian 32-bit words of the network's first address: 1 word (IPv4) or 4 (IPv6). */
  readonly words: readonly number[];
  readonly prefix: number;
  /** Index into `records`. */
  readonly record: number;
}

export interface TestRecord {
  readonly value: Record<string, string | number>;
  /** Data-section offset to place the record at (at least); records must be in offset order. */
  readonly at?: number;
}

export interface MmdbSpec {
  readonly ipVersion: 4 | 6;
  readonly recordSize: 24 | 28 | 32;
  /** Disjoint networks. An IPv4 network in an IPv6 database lands in ::/96. */
  readonly networks: readonly Network[];
  readonly records: readonly TestRecord[];
  readonly buildEpoch?: number;
}

const u8 = (...b: number[]) => Buffer.from(b);

function uint(type: number, v: number | bigint): Buffer {
  const bytes: number[] = [];
  for (let x = BigInt(v); x > 0n; x >>= 8n) bytes.unshift(Number(x & 0xffn));
  // Types above 7 are "extended": type bits 0, the type - 7 in the next byte.
  return type <= 7 ? Buffer.concat([u8((type << 5) | bytes.length), u8(...bytes)]) : Buffer.concat([u8(bytes.length, type - 7), u8(...bytes)]);
}

function encode(v: unknown): Buffer {
  if (typeof v === "string") {
    const s = Buffer.from(v, "utf8");
    if (s.length >= 29) throw new Error("test writer: strings under 29 bytes only");
    return Buffer.concat([u8(0x40 | s.length), s]);
  }
  if (typeof v === "number" && !Number.isInteger(v)) {
    const d = Buffer.alloc(9);
    d[0] = 0x68; // double, 8 bytes
    d.writeDoubleBE(v, 1);
    return d;
  }
  if (typeof v === "number" || typeof v === "bigint") return uint(6, v); // uint32
  if (Array.isArray(v)) return Buffer.concat([u8(v.length, 11 - 7), ...v.map(encode)]);
  const entries = Object.entries(v as object);
  return Buffer.concat([u8(0xe0 | entries.length), ...entries.flatMap(([k, x]) => [encode(k), encode(x)])]);
}

export function buildMmdb(spec: MmdbSpec): Buffer {
  const DATA = -2;
  // Each node: [left, right]; a value >= 0 is a node, DATA - i is record i, -1 is empty.
  const nodes: [number, number][] = [[-1, -1]];
  for (const net of spec.networks) {
    const bits: number[] = [];
    if (spec.ipVersion === 6 && net.words.length === 1) for (let i = 0; i < 96; i++) bits.push(0);
    const width = net.words.length * 32;
    const prefix = net.prefix + (width === 32 && spec.ipVersion === 6 ? 96 : 0);
    for (let i = 0; i < width; i++) bits.push((net.words[i >>> 5] >>> (31 - (i & 31))) & 1);
    let node = 0;
    for (let i = 0; i < prefix; i++) {
      const side = bits[i];
      const last = i === prefix - 1;
      const at = nodes[node][side];
      if (last) {
        if (at !== -1) throw new Error("test writer: networks must be disjoint");
        nodes[node][side] = DATA - net.record;
      } else if (at === -1) {
        nodes.push([-1, -1]);
        node = nodes[node][side] = nodes.length - 1;
      } else if (at < 0) {
        throw new Error("test writer: networks must be disjoint");
      } else node = at;
    }
  }
  const nodeCount = nodes.length;
  // The data section.
  const parts: Buffer[] = [];
  const offsets: number[] = [];
  let size = 0;
  for (const r of spec.records) {
    if (r.at !== undefined) {
      if (r.at < size) throw new Error("test writer: records in offset order");
      parts.push(Buffer.alloc(r.at - size));
      size = r.at;
    }
    const bytes = encode(r.value);
    offsets.push(size);
    parts.push(bytes);
    size += bytes.length;
  }
  const value = (x: number) => (x >= 0 ? x : x === -1 ? nodeCount : nodeCount + 16 + offsets[DATA - x]);
  const rs = spec.recordSize;
  const nodeBytes = rs / 4;
  const tree = Buffer.alloc(nodeCount * nodeBytes);
  nodes.forEach(([l, r], i) => {
    const [lv, rv] = [value(l), value(r)];
    if (Math.max(lv, rv) >= 2 ** rs) throw new Error("test writer: record value too large for the record size");
    const o = i * nodeBytes;
    if (rs === 24) {
      tree.writeUIntBE(lv, o, 3);
      tree.writeUIntBE(rv, o + 3, 3);
    } else if (rs === 28) {
      tree.writeUIntBE(lv & 0xffffff, o, 3);
      tree[o + 3] = ((lv >>> 24) << 4) | (rv >>> 24);
      tree.writeUIntBE(rv & 0xffffff, o + 4, 3);
    } else {
      tree.writeUInt32BE(lv, o);
      tree.writeUInt32BE(rv, o + 4);
    }
  });
  const meta = Buffer.concat([
    u8(0xe0 | 9),
    encode("node_count"),
    uint(6, nodeCount),
    encode("record_size"),
    uint(5, rs),
    encode("ip_version"),
    uint(5, spec.ipVersion),
    encode("database_type"),
    encode("bintu-edge-test"),
    encode("languages"),
    encode([]),
    encode("binary_format_major_version"),
    uint(5, 2),
    encode("binary_format_minor_version"),
    uint(5, 0),
    encode("build_epoch"),
    uint(9, BigInt(spec.buildEpoch ?? 1_750_000_000)),
    encode("description"),
    encode({}),
  ]);
  return Buffer.concat([tree, Buffer.alloc(16), ...parts, Buffer.from("abcdef4d61784d696e642e636f6d", "hex"), meta]);
}
