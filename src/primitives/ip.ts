// Address parsing for Guardian rules and client addresses (issue 5 §4). One parser for both, so a
// rule and a client can never disagree about what an address is. The client path writes into a
// caller-owned Uint32Array and allocates nothing: it runs once per play/publish decision.
// `::ffff:a.b.c.d` — dotted, hex (`::ffff:7f00:1`) or expanded (`0:0:0:0:0:ffff:7f00:1`) — is
// IPv4 everywhere (docs/decisions.md §3, docs/reliability.md §0.8). `::a.b.c.d` and NAT64 `64:ff9b::/96` stay
// IPv6, as in net.BlockList.

export type Family = 0 | 4 | 6;

const COLON = 58;
const DOT = 46;
const PERCENT = 37;

/** Scratch for the eight 16-bit groups of an IPv6 address (parsing is synchronous, never re-entered). */
const groups = new Uint32Array(8);

/** Dotted-quad IPv4 in s[start, end) → 0..2^32-1, or -1. Leading zeros are refused (octal ambiguity). */
function parseV4(s: string, start: number, end: number): number {
  let acc = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else if (c === DOT) {
      if (digits === 0 || ++dots > 3) return -1;
      acc = acc * 256 + octet;
      octet = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  return dots === 3 && digits > 0 ? acc * 256 + octet : -1;
}

/** Hex digit values by character code; -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let d = 0; d < 16; d++) HEX["0123456789abcdef".charCodeAt(d)] = HEX["0123456789ABCDEF".charCodeAt(d)] = d;

/**
 * IPv6 text in s[0, end) → out[0..3] (big-endian 32-bit words). RFC 4291 §2.2 forms; a zone
 * (`fe80::1%eth0`, as sockets report link-local peers) ends the address.
 */
function parseV6(s: string, end: number, out: Uint32Array): boolean {
  let i = 0;
  let n = 0;
  let gap = -1;
  if (s.charCodeAt(0) === COLON) {
    if (s.charCodeAt(1) !== COLON) return false;
    gap = 0;
    i = 2;
  }
  while (i < end && s.charCodeAt(i) !== PERCENT) {
    const start = i;
    let v = 0;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      const h = c < 128 ? HEX[c] : -1;
      if (h < 0) break;
      v = (v << 4) | h;
    }
    if (i < end && s.charCodeAt(i) === DOT) {
      // Embedded IPv4 is only valid as the last 32 bits.
      const zone = s.indexOf("%", i);
      const v4 = n <= 6 ? parseV4(s, start, zone < 0 || zone > end ? end : zone) : -1;
      if (v4 < 0) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      break;
    }
    if (i === start || i - start > 4 || n === 8) return false;
    groups[n++] = v;
    if (i === end || s.charCodeAt(i) === PERCENT) break;
    if (s.charCodeAt(i) !== COLON || ++i === end) return false;
    if (s.charCodeAt(i) === COLON) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    }
  }
  if (gap < 0 ? n !== 8 : n > 7) return false;
  if (gap >= 0) {
    const shift = 8 - n;
    for (let k = n - 1; k >= gap; k--) groups[k + shift] = groups[k];
    for (let k = gap; k < gap + shift; k++) groups[k] = 0;
  }
  out[0] = ((groups[0] << 16) | groups[1]) >>> 0;
  out[1] = ((groups[2] << 16) | groups[3]) >>> 0;
  out[2] = ((groups[4] << 16) | groups[5]) >>> 0;
  out[3] = ((groups[6] << 16) | groups[7]) >>> 0;
  return true;
}

/** A dotted-quad IPv4 address, nothing else (leading zeros refused, as node:net's isIPv4 does). */
export function isIPv4Text(s: string): boolean {
  return parseV4(s, 0, s.length) >= 0;
}

const isMapped = (w: Uint32Array) => w[0] === 0 && w[1] === 0 && w[2] === 0xffff;

/**
 * Parses a client address. IPv4 (and IPv4-mapped IPv6) → 4 with the address in out[0];
 * IPv6 → 6 with out[0..3]; anything else → 0. A zone (`fe80::1%eth0`) is ignored.
 */
export function parseAddress(s: string, out: Uint32Array): Family {
  return parseSpan(s, s.length, out);
}

/** An address in s[0, end), as parseAddress. */
function parseSpan(s: string, end: number, out: Uint32Array): Family {
  // Dotted IPv4 first: on anything else it fails within a few characters.
  const v4 = parseV4(s, 0, end);
  if (v4 >= 0) {
    out[0] = v4;
    return 4;
  }
  if (!parseV6(s, end, out)) return 0;
  if (!isMapped(out)) return 6;
  out[0] = out[3];
  return 4;
}

export type NetworkResult = { ok: true; family: 4 | 6; prefix: number; text: string } | { ok: false; reason: string };

export const wordsToBigInt = (w: ArrayLike<number>): bigint => (BigInt(w[0]) << 96n) | (BigInt(w[1]) << 64n) | (BigInt(w[2]) << 32n) | BigInt(w[3]);

export function formatV4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run (≥ 2) of zero groups as `::`. */
export function formatV6(v: bigint): string {
  const g: number[] = [];
  for (let k = 7; k >= 0; k--) g.push(Number((v >> BigInt(16 * k)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let k = 0; k < 8;) {
    let e = k;
    while (e < 8 && g[e] === 0) e++;
    if (e - k > bestLen) [best, bestLen] = [k, e - k];
    k = e === k ? k + 1 : e;
  }
  const hex = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(":");
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** The network bits of 32-bit word `w` (0-3) under an IPv6 prefix length. */
function wordMask(prefix: number, w: number): number {
  const bits = Math.min(32, Math.max(0, prefix - 32 * w));
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/**
 * Parses rule text — an address or CIDR, v4 or v6 — into `words` (the network's first address;
 * IPv4 in words[0]) and returns family * 256 + prefix, or why the text is refused. A network with
 * host bits set (`10.1.2.3/8`) is refused, naming the network that was probably meant: silently
 * widening a typo like /8 for /28 would block 16 million addresses. `::ffff:a.b.c.d[/96+n]` is
 * `a.b.c.d[/n]`; a mapped prefix shorter than /96 spans IPv4 and IPv6 space and is refused.
 */
export function networkInto(text: string, words: Uint32Array): number | string {
  if (text.includes("%")) return "zone identifiers are not allowed in rules";
  const slash = text.indexOf("/");
  const end = slash < 0 ? text.length : slash;
  let prefix = -1;
  if (slash >= 0) {
    const digits = text.length - slash - 1;
    // 1-3 decimal digits, no leading zero: "/08" is not "/8" to everyone.
    if (digits < 1 || digits > 3 || (digits > 1 && text.charCodeAt(slash + 1) === 48)) return "prefix length must be a decimal number";
    prefix = 0;
    for (let i = slash + 1; i < text.length; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return "prefix length must be a decimal number";
      prefix = prefix * 10 + d;
    }
  }
  const family = parseSpan(text, end, words);
  if (family === 0) return "not an IPv4 or IPv6 address";
  const mapped = family === 4 && text.indexOf(":") >= 0;
  if (mapped && prefix >= 0) {
    if (prefix < 96 || prefix > 128) return "an IPv4-mapped network needs a prefix of /96 to /128";
    prefix -= 96;
  }
  const max = family === 4 ? 32 : 128;
  if (prefix < 0) prefix = max;
  if (prefix > max) return `IPv${family} prefix length must be 0-${max}`;
  let hostBits = false;
  if (family === 4) {
    const start = words[0] - (words[0] % 2 ** (32 - prefix));
    hostBits = start !== words[0];
    words[0] = start;
  } else {
    for (let w = 0; w < 4; w++) {
      const masked = (words[w] & wordMask(prefix, w)) >>> 0;
      hostBits ||= masked !== words[w];
      words[w] = masked;
    }
  }
  if (hostBits) return `host bits set; the network is ${formatNetwork(family, prefix, words, true)}`;
  return family * 256 + prefix;
}

function formatNetwork(family: 4 | 6, prefix: number, words: Uint32Array, withPrefix = false): string {
  const addr = family === 4 ? formatV4(words[0]) : formatV6(wordsToBigInt(words));
  return withPrefix || prefix < (family === 4 ? 32 : 128) ? `${addr}/${prefix}` : addr;
}

/** Validates rule text and gives its canonical form: `a.b.c.d[/n]`, RFC 5952 IPv6`[/n]`. */
export function parseNetwork(text: string): NetworkResult {
  const words = new Uint32Array(4);
  const r = networkInto(text, words);
  if (typeof r === "string") return { ok: false, reason: r };
  const family = (r >> 8) as 4 | 6;
  const prefix = r & 255;
  return { ok: true, family, prefix, text: formatNetwork(family, prefix, words) };
}
