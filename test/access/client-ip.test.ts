// The X-Forwarded-For matrix (issue 5): trusted / untrusted peer × spoofed / real chain → IP used.
import t from "tap";
import { httpClientIp, normalizeIp, trustedProxies } from "../../src/access/client-ip.js";

t.test("normalizeIp: mapped IPv4 is IPv4; v6 is lower-cased", async (t) => {
  t.equal(normalizeIp("::ffff:192.0.2.1"), "192.0.2.1");
  t.equal(normalizeIp("::FFFF:192.0.2.1"), "192.0.2.1");
  t.equal(normalizeIp("2001:DB8::1"), "2001:db8::1");
  t.equal(normalizeIp(undefined), "");
});

t.test("forwarding headers are believed only from trusted proxies, rightmost untrusted hop", async (t) => {
  const trusted = trustedProxies(["10.0.0.0/8", "::1", "fd00::/8"]);
  const cases: [string, string | undefined, string, string][] = [
    ["203.0.113.9", undefined, "203.0.113.9", "direct client, no header"],
    ["203.0.113.9", "6.6.6.6", "203.0.113.9", "untrusted peer: a spoofed header is ignored"],
    ["::ffff:203.0.113.9", "6.6.6.6", "203.0.113.9", "untrusted mapped peer"],
    ["10.1.2.3", "198.51.100.7", "198.51.100.7", "trusted proxy: its client"],
    ["::ffff:10.1.2.3", "198.51.100.7", "198.51.100.7", "trusted proxy seen as mapped IPv4"],
    ["10.1.2.3", "6.6.6.6, 198.51.100.7", "198.51.100.7", "client-written leftmost entry is not believed"],
    ["10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9", "198.51.100.7", "a chain of trusted proxies is walked"],
    ["10.1.2.3", "10.4.4.4, 10.9.9.9", "10.4.4.4", "all hops trusted: the leftmost"],
    ["10.1.2.3", "garbage, 198.51.100.7", "198.51.100.7", "a malformed entry left of the client does not matter"],
    ["10.1.2.3", "198.51.100.7, garbage", "10.1.2.3", "a malformed last hop stops at the proxy"],
    ["::1", "2001:db8::5", "2001:db8::5", "IPv6 proxy and client"],
    ["fd00::1", "::ffff:198.51.100.7", "198.51.100.7", "a mapped address in the header is IPv4"],
  ];
  for (const [peer, xff, expected, why] of cases) t.equal(httpClientIp(peer, xff, trusted), expected, why);
  t.equal(httpClientIp("10.1.2.3", "198.51.100.7", trustedProxies([])), "10.1.2.3", "no proxies configured: the peer");
});
