// Client addresses are compared in one form everywhere (DESIGN.md §4): an IPv4-mapped IPv6
// address (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4 peers) is the IPv4 address.
import { isIPv4 } from "node:net";

export function normalizeIp(address: string | undefined): string {
  if (!address) return "";
  const lower = address.toLowerCase();
  if (lower.startsWith("::ffff:")) {
    const tail = lower.slice(7);
    if (isIPv4(tail)) return tail;
  }
  return lower;
}
