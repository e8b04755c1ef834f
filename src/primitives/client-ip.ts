// Client addresses (docs/decisions.md §3). One form everywhere: an IPv4-mapped IPv6 address
// (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4 peers) is the IPv4 address. Over HTTP a
// forwarding header is believed only from configured proxies, taking the rightmost hop that is not
// one of them — the leftmost entries are whatever the client wrote.
import { isIPv4Text, networkInto, parseAddress } from "./ip.js";

export function normalizeIp(address: string | undefined): string {
  if (!address) return "";
  const lower = address.toLowerCase();
  if (lower.startsWith("::ffff:")) {
    const tail = lower.slice(7);
    if (isIPv4Text(tail)) return tail;
  }
  return lower;
}

/**
 * The configured proxy CIDRs (`api.trustProxy`, validated by the config loader). Matched in
 * plain JS on the parsed address: net.BlockList builds a native SocketAddress per check, which
 * cost more than the whole route decision on /v1/route (measured). The list is configuration,
 * not rules — a handful of entries — so a scan is fine here.
 */
export class TrustedProxies {
  private readonly v4: { net: number; mask: number }[] = [];
  private readonly v6: { net: Uint32Array; prefix: number }[] = [];
  private readonly words = new Uint32Array(4);

  /**
   * Parsed by networkInto, the parser of Guardian rules and of the config loader's check of
   * `api.trustProxy` (issue 11 §4: one parser per concept), so a list the loader passed never
   * throws here and a network with host bits is refused, not silently widened.
   */
  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const words = new Uint32Array(4);
      const parsed = networkInto(cidr, words);
      if (typeof parsed === "string") throw new Error(`'${cidr}': ${parsed}`);
      const prefix = parsed & 255;
      if (parsed >> 8 === 4) {
        this.v4.push({ net: words[0], mask: prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0 });
      } else {
        this.v6.push({ net: words, prefix });
      }
    }
  }

  get empty(): boolean {
    return this.v4.length === 0 && this.v6.length === 0;
  }

  has(ip: string): boolean {
    const w = this.words;
    const family = parseAddress(ip, w);
    if (family === 4) {
      for (const { net, mask } of this.v4) if ((w[0] & mask) >>> 0 === net) return true;
    } else if (family === 6) {
      for (const { net, prefix } of this.v6) if (inV6(w, net, prefix)) return true;
    }
    return false;
  }
}

function inV6(w: Uint32Array, net: Uint32Array, prefix: number): boolean {
  for (let i = 0, left = prefix; i < 4 && left > 0; i++, left -= 32) {
    const mask = left >= 32 ? 0xffffffff : (0xffffffff << (32 - left)) >>> 0;
    if ((w[i] & mask) >>> 0 !== net[i]) return false;
  }
  return true;
}

export const trustedProxies = (cidrs: readonly string[]): TrustedProxies => new TrustedProxies(cidrs);

const scratch = new Uint32Array(4);
const isAddress = (ip: string) => parseAddress(ip, scratch) !== 0;

/**
 * The client of an HTTP request: the socket peer, unless the peer is a trusted proxy — then the
 * rightmost X-Forwarded-For entry that is not a trusted proxy (or the leftmost, if all are).
 * A malformed entry stops the walk at the last good hop.
 */
export function httpClientIp(socketAddress: string | undefined, forwardedFor: string | string[] | undefined, trusted: TrustedProxies): string {
  let client = normalizeIp(socketAddress);
  if (!forwardedFor || trusted.empty || !trusted.has(client)) return client;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i].trim());
    if (!isAddress(hop)) break;
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}
