// Address and CIDR parsing (issue 5 §4), the one parser of Guardian rules, trusted proxies, geo
// overrides and the config loader (issue 11 §4): normalised text, refusals with reasons (host bits
// above all), and client addresses checked against WHATWG URL and ipaddr.js.
import t from "tap";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { formatV6, parseAddress, parseNetwork, wordsToBigInt } from "../../src/primitives/ip.js";

t.test("rule networks: normalised text, refusals with reasons", async (t) => {
  const good: [string, string][] = [
    ["103.13.113.1", "103.13.113.1"],
    ["103.13.113.0/24", "103.13.113.0/24"],
    ["1.2.3.4/32", "1.2.3.4"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["::ffff:10.0.0.0/104", "10.0.0.0/8"],
    ["::ffff:a00:1", "10.0.0.1"],
    ["0:0:0:0:0:ffff:a00:0/120", "10.0.0.0/24"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8::/32", "2001:db8::/32"],
    ["2001:0db8:0000::/48", "2001:db8::/48"],
    ["::/0", "::/0"],
    ["::1/128", "::1"],
    ["2001:db8:0:1:0:0:0:0/64", "2001:db8:0:1::/64"],
  ];
  for (const [input, text] of good) {
    const r = parseNetwork(input);
    t.ok(r.ok && r.text === text, `${input} → ${text}`);
  }
  const bad: [string, RegExp][] = [
    ["10.1.2.3/8", /host bits set; the network is 10\.0\.0\.0\/8/],
    ["2001:db8::1/32", /host bits set; the network is 2001:db8::\/32/],
    ["1.2.3.4/33", /0-32/],
    ["::1/129", /0-128/],
    ["::ffff:10.0.0.0/95", /\/96 to \/128/],
    ["1.2.3.4/08", /decimal/],
    ["1.2.3.4/", /decimal/],
    ["01.2.3.4", /not an IPv4 or IPv6/],
    ["1.2.3", /not an IPv4 or IPv6/],
    ["256.1.1.1", /not an IPv4 or IPv6/],
    ["1::2::3", /not an IPv4 or IPv6/],
    ["12345::", /not an IPv4 or IPv6/],
    ["fe80::1%eth0", /zone/],
    [" 1.2.3.4", /not an IPv4 or IPv6/],
  ];
  for (const [input, reason] of bad) {
    const r = parseNetwork(input);
    t.ok(!r.ok && reason.test(r.reason), `${input} refused: ${r.ok ? "accepted" : r.reason}`);
  }
});

t.test("client address parsing agrees with WHATWG URL and ipaddr.js on random addresses and spellings", async (t) => {
  const words = new Uint32Array(4);
  // ipaddr.js 2.5 reads `::1.2.3.4` as `::ffff:1.2.3.4` (RFC 4291 §2.5.5.1: it is 0::102:304,
  // as Node and WHATWG URL read it), so IPv6 is checked against URL's parser.
  const MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;
  fc.assert(
    fc.property(fc.ipV6(), (text) => {
      const canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
      const family = parseAddress(text, words);
      const mapped = MAPPED.exec(canonical);
      if (mapped) return family === 4 && words[0] === parseInt(mapped[1], 16) * 65536 + parseInt(mapped[2], 16);
      return family === 6 && formatV6(wordsToBigInt(words)) === canonical;
    }),
    { seed: 55, numRuns: 3000 },
  );
  fc.assert(
    fc.property(
      fc.ipV4(),
      (text) =>
        parseAddress(text, words) === 4 &&
        words[0] ===
          ipaddr
            .parse(text)
            .toByteArray()
            .reduce((a, b) => a * 256 + b, 0),
    ),
    { seed: 56, numRuns: 2000 },
  );
  t.pass("3000 IPv6 and 2000 IPv4 addresses");
  for (const junk of ["", ":", ":::", "1.2.3.4.5", "1.2.3.", "::g", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8:9", "::1.2.3", "1.2.3.4::"]) {
    t.equal(parseAddress(junk, words), 0, `refused: "${junk}"`);
  }
});
