// Interval tables for IP rules (issue 5 §4: no per-rule loop on the hot path). CIDR ranges are
// laminar — two ranges are nested or disjoint, never partly overlapping — so one sweep over the
// ranges sorted by (start asc, prefix asc) cuts the address space into disjoint segments, each
// carrying a *chain*: the rules covering it, most specific first (a range's own rules ahead of
// its parents'), in precedence order on the same range. A lookup is a binary search for the
// segment, then the chain's first unexpired rule — usually its first entry. A chain stops at its
// first rule without expiry (nothing behind it can ever win), unless its rules may be masked.
//
// Addresses are big-endian 32-bit words (1 for IPv4, 4 for IPv6) in typed arrays: compiling
// 100k rules allocates no object per rule.

export const NO_CHAIN = -1;

/**
 * Chains of rule indexes, flat: [length, rule, rule, …]; a chain's id is its offset. With
 * `closeAtPermanent` off every covering rule is kept: a table whose rules may later be masked
 * (removed without a recompile) must still hold what a masked permanent rule shadowed.
 */
export class Chains {
  readonly data: number[] = [];
  private open = 0;
  private closed = false;

  constructor(private readonly closeAtPermanent = true) {}

  begin(): void {
    this.open = this.data.length;
    this.data.push(0);
    this.closed = false;
  }

  /** Appends a rule unless the chain already ends in one that never expires. */
  add(rule: number, expires: Float64Array): void {
    if (this.closed) return;
    this.data.push(rule);
    this.data[this.open]++;
    this.closed = this.closeAtPermanent && expires[rule] === Infinity;
  }

  /** Ends the chain, continuing it with the parent's (a containing range's) chain. */
  end(parent: number): number {
    if (!this.closed && parent !== NO_CHAIN) {
      const len = this.data[parent];
      for (let i = 1; i <= len; i++) this.data.push(this.data[parent + i]);
      this.data[this.open] += len;
    }
    return this.open;
  }

  /** A chain of rules already in precedence order, or NO_CHAIN for none. */
  of(rules: readonly number[], expires: Float64Array): number {
    if (rules.length === 0) return NO_CHAIN;
    this.begin();
    for (const r of rules) this.add(r, expires);
    return this.end(NO_CHAIN);
  }
}

/** First unexpired rule of a chain, or -1. */
export function chainWinner(data: Int32Array, chain: number, expires: Float64Array, nowMs: number): number {
  if (chain < 0) return -1;
  const end = chain + data[chain];
  for (let i = chain + 1; i <= end; i++) {
    const r = data[i];
    if (expires[r] > nowMs) return r;
  }
  return -1;
}

/** First unexpired rule of a chain that is not in `masked`, or -1. */
export function chainWinnerUnmasked(data: Int32Array, chain: number, expires: Float64Array, nowMs: number, masked: ReadonlySet<number>): number {
  if (chain < 0) return -1;
  const end = chain + data[chain];
  for (let i = chain + 1; i <= end; i++) {
    const r = data[i];
    if (expires[r] > nowMs && !masked.has(r)) return r;
  }
  return -1;
}

/** IP rule ranges of one family, `width` words per address, in any order. */
export interface RangeList {
  readonly width: 1 | 4;
  readonly count: number;
  readonly starts: Uint32Array;
  readonly prefix: Uint8Array;
  /** Snapshot rule index of each range. */
  readonly rule: Int32Array;
}

// From this many ranges a radix sort (one pass per 16 bits, O(n)) beats a comparison sort;
// below it, its 64k-entry count table costs more than it saves.
const RADIX_MIN = 4096;

/**
 * Range indexes by (start asc, prefix asc): containing ranges before the ranges inside them.
 * Both sorts are stable and the indexes start in rule order, so the rules of one range stay
 * in precedence order.
 */
function sortedByStartThenPrefix(list: RangeList, cmp: (a: Uint32Array, ai: number, b: Uint32Array, bi: number) => number): Int32Array {
  const { width: W, count, starts, prefix } = list;
  let order = Int32Array.from({ length: count }, (_, i) => i);
  if (count < RADIX_MIN) return order.sort((a, b) => cmp(starts, a, starts, b) || prefix[a] - prefix[b]);
  let spare = new Int32Array(count);
  const tally = new Int32Array(65537);
  // Least significant digit first: the prefix, then each word's low and high 16 bits.
  const pass = (digit: (r: number) => number) => {
    tally.fill(0);
    for (let i = 0; i < count; i++) tally[digit(order[i]) + 1]++;
    for (let d = 0; d < 65536; d++) tally[d + 1] += tally[d];
    for (let i = 0; i < count; i++) spare[tally[digit(order[i])]++] = order[i];
    [order, spare] = [spare, order];
  };
  pass((r) => prefix[r]);
  for (let w = W - 1; w >= 0; w--) {
    pass((r) => starts[r * W + w] & 0xffff);
    pass((r) => starts[r * W + w] >>> 16);
  }
  return order;
}

/** Cuts the ranges into segments covering the whole address space; segment i begins at starts[i·width]. */
export function sweep(list: RangeList, chains: Chains, expires: Float64Array): { starts: Uint32Array; chains: Int32Array } {
  const { width: W, count, starts, prefix, rule } = list;
  const ends = new Uint32Array(starts.length);
  for (let r = 0; r < count; r++) {
    let host = W * 32 - prefix[r];
    for (let w = W - 1; w >= 0; w--, host -= 32) {
      const bits = host <= 0 ? 0 : host >= 32 ? 32 : host;
      ends[r * W + w] = (starts[r * W + w] | (bits === 0 ? 0 : 0xffffffff >>> (32 - bits))) >>> 0;
    }
  }
  const cmp = (a: Uint32Array, ai: number, b: Uint32Array, bi: number) => {
    for (let w = 0; w < W; w++) if (a[ai * W + w] !== b[bi * W + w]) return a[ai * W + w] - b[bi * W + w];
    return 0;
  };
  const order = sortedByStartThenPrefix(list, cmp);
  // At most one segment per range start and one per range end, plus the first.
  const outStarts = new Uint32Array((2 * count + 1) * W);
  const outChains = new Int32Array(2 * count + 1);
  let segs = 0;
  const emit = (src: Uint32Array, at: number, chain: number) => {
    if (segs > 0 && cmp(outStarts, segs - 1, src, at) === 0) segs--; // a later chain at the same address wins
    if (segs > 0 && outChains[segs - 1] === chain) return;
    for (let w = 0; w < W; w++) outStarts[segs * W + w] = src[at * W + w];
    outChains[segs++] = chain;
  };
  const after = new Uint32Array(W);
  /** after = ends[range] + 1; false past the top of the address space. */
  const next = (range: number) => {
    let carry = 1;
    for (let w = W - 1; w >= 0; w--) {
      const v = ends[range * W + w] + carry;
      carry = v > 0xffffffff ? 1 : 0;
      after[w] = v >>> 0;
    }
    return carry === 0;
  };
  const stackRange: number[] = [];
  const stackChain: number[] = [];
  const parent = () => (stackChain.length > 0 ? stackChain[stackChain.length - 1] : NO_CHAIN);
  /** Closes the open ranges that end before `range` starts (all of them for -1). */
  const popBefore = (range: number) => {
    while (stackRange.length > 0 && (range < 0 || cmp(ends, stackRange[stackRange.length - 1], starts, range) < 0)) {
      const top = stackRange.pop()!;
      stackChain.pop();
      if (next(top)) emit(after, 0, parent());
    }
  };
  emit(new Uint32Array(W), 0, NO_CHAIN);
  for (let i = 0; i < count;) {
    const g = order[i];
    popBefore(g);
    chains.begin();
    let j = i;
    for (; j < count && prefix[order[j]] === prefix[g] && cmp(starts, order[j], starts, g) === 0; j++) chains.add(rule[order[j]], expires);
    const chain = chains.end(parent());
    stackRange.push(g);
    stackChain.push(chain);
    emit(starts, g, chain);
    i = j;
  }
  popBefore(-1);
  return { starts: outStarts.slice(0, segs * W), chains: outChains.slice(0, segs) };
}

// Below this many segments a plain binary search is as fast as the bucket index, which costs
// 256 KiB per table — too much for the many small per-stream tables.
const BUCKET_MIN_SEGMENTS = 256;

/** Segments of one family: `width` words per start (1 for IPv4, 4 for IPv6). */
export interface IpTable {
  readonly starts: Uint32Array;
  readonly chains: Int32Array;
  /**
   * bucket[b] = the segment holding the address whose top 16 bits are b (the rest zero): a
   * lookup binary-searches only between bucket[b] and bucket[b + 1]. null for small tables.
   */
  readonly bucket: Uint32Array | null;
}

export function ipTable(seg: { starts: Uint32Array; chains: Int32Array }, width: 1 | 4): IpTable {
  const s = seg.starts;
  const count = seg.chains.length;
  let bucket: Uint32Array | null = null;
  if (count >= BUCKET_MIN_SEGMENTS) {
    // Segment i starts at or below the address (at, 0, 0, 0).
    const atMost = (i: number, at: number) => {
      const o = i * width;
      return s[o] < at || (s[o] === at && (width === 1 || (s[o + 1] === 0 && s[o + 2] === 0 && s[o + 3] === 0)));
    };
    bucket = new Uint32Array(65537);
    let i = 0;
    for (let b = 0; b < 65536; b++) {
      const at = b * 65536;
      while (i + 1 < count && atMost(i + 1, at)) i++;
      bucket[b] = i;
    }
    bucket[65536] = count - 1;
  }
  return { starts: s, chains: seg.chains, bucket };
}

/** The chain of the segment holding IPv4 address `ip` (0..2^32-1). */
export function v4Lookup(t: IpTable, ip: number): number {
  const s = t.starts;
  let lo = 0;
  let hi = s.length - 1;
  if (t.bucket !== null) {
    lo = t.bucket[ip >>> 16];
    hi = t.bucket[(ip >>> 16) + 1];
  }
  // Invariant: s[lo] <= ip; find the last start <= ip.
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (s[mid] <= ip) lo = mid;
    else hi = mid - 1;
  }
  return t.chains[lo];
}

/** The chain of the segment holding IPv6 address `w` (four words). */
export function v6Lookup(t: IpTable, w: Uint32Array): number {
  const s = t.starts;
  const w0 = w[0];
  const w1 = w[1];
  const w2 = w[2];
  const w3 = w[3];
  let lo = 0;
  let hi = t.chains.length - 1;
  if (t.bucket !== null) {
    lo = t.bucket[w0 >>> 16];
    hi = t.bucket[(w0 >>> 16) + 1];
  }
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    const o = 4 * mid;
    // starts[mid] <= w, word by word
    const atMost = s[o] !== w0 ? s[o] < w0 : s[o + 1] !== w1 ? s[o + 1] < w1 : s[o + 2] !== w2 ? s[o + 2] < w2 : s[o + 3] <= w3;
    if (atMost) lo = mid;
    else hi = mid - 1;
  }
  return t.chains[lo];
}
