// Client addresses (DESIGN.md §4). One form everywhere: an IPv4-mapped IPv6 address
// (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4 peers) is the IPv4 address. Over HTTP a
// forwarding header is believed only from configured proxies, taking the rightmost hop that is not
// one of them — the leftmost entries are whatever the client wrote.
import { BlockList, isIP, isIPv4 } from "node:net";

export function normalizeIp(address: string | undefined): string {
  if (!address) return "";
  const lower = address.toLowerCase();
  if (lower.startsWith("::ffff:")) {
    const tail = lower.slice(7);
    if (isIPv4(tail)) return tail;
  }
  return lower;
}

/** The configured proxy CIDRs (`api.trustProxy`), validated by the config loader. */
export function trustedProxies(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split("/");
    const ip = normalizeIp(address);
    const family = isIP(ip) === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(ip, family);
    else list.addSubnet(ip, Number(prefix), family);
  }
  return list;
}

const isTrusted = (trusted: BlockList, ip: string) => {
  const family = isIP(ip);
  return family !== 0 && trusted.check(ip, family === 6 ? "ipv6" : "ipv4");
};

/**
 * The client of an HTTP request: the socket peer, unless the peer is a trusted proxy — then the
 * rightmost X-Forwarded-For entry that is not a trusted proxy (or the leftmost, if all are).
 * A malformed entry stops the walk at the last good hop.
 */
export function httpClientIp(socketAddress: string | undefined, forwardedFor: string | string[] | undefined, trusted: BlockList): string {
  let client = normalizeIp(socketAddress);
  if (!forwardedFor || !isTrusted(trusted, client)) return client;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i].trim());
    if (isIP(hop) === 0) break;
    client = hop;
    if (!isTrusted(trusted, hop)) break;
  }
  return client;
}
