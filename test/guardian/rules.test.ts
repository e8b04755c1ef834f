// Rule text and bodies (issue 5 §1-§2): address and CIDR parsing and normalisation, the refusal
// of host bits, DNS label rules, IDN, country codes, and bintu's 1002/1004 errors naming the field.
import t from "tap";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { ISO_COUNTRIES } from "../../src/guardian/countries.js";
import { normaliseDomain, refererHost } from "../../src/primitives/domain.js";
import { formatV6, parseAddress, parseNetwork, wordsToBigInt } from "../../src/primitives/ip.js";
import { kindOfEntry, parseRule, RuleValidationError } from "../../src/guardian/rules.js";
import { NOW } from "./helpers.js";

const api = { source: "api" as const, nowMs: NOW };

function refusal(fn: () => unknown): RuleValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RuleValidationError) return err;
    throw err;
  }
  throw new Error("expected a RuleValidationError");
}

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
    fc.property(fc.ipV4(), (text) => parseAddress(text, words) === 4 && words[0] === ipaddr.parse(text).toByteArray().reduce((a, b) => a * 256 + b, 0)),
    { seed: 56, numRuns: 2000 },
  );
  t.pass("3000 IPv6 and 2000 IPv4 addresses");
  for (const junk of ["", ":", ":::", "1.2.3.4.5", "1.2.3.", "::g", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8:9", "::1.2.3", "1.2.3.4::"]) {
    t.equal(parseAddress(junk, words), 0, `refused: "${junk}"`);
  }
});

t.test("referrer domains: DNS label rules, wildcards, IDN", async (t) => {
  const good: [string, string][] = [
    ["Example.COM", "example.com"],
    ["example.com.", "example.com"],
    ["*", "*"],
    ["*.Example.com", "*.example.com"],
    ["bücher.example", "xn--bcher-kva.example"],
    ["*.münchen.de", "*.xn--mnchen-3ya.de"],
    ["a-b.c0.io", "a-b.c0.io"],
    ["localhost", "localhost"],
    [`${"a".repeat(63)}.com`, `${"a".repeat(63)}.com`],
  ];
  for (const [input, value] of good) t.same(normaliseDomain(input), { ok: true, value }, input);
  const bad = ["", "https://example.com/", "example.com/path", "ex*ample.com", "*example.com", "a.*.com", "-a.com", "a-.com", "a..com", "a_b.com", "1.2.3.4", "example.123", `${"a".repeat(64)}.com`, `${"a.".repeat(127)}com`, "example.com:8080", "exa mple.com"];
  for (const input of bad) t.notOk(normaliseDomain(input).ok, `refused: ${input}`);
});

t.test("referrer header → host", async (t) => {
  const cases: [string | undefined, string | undefined][] = [
    ["https://App.Example.com:8443/p?q#f", "app.example.com"],
    ["https://example.com./", "example.com"],
    ["http://u:p@example.com/", "example.com"],
    ["https://[2001:db8::1]:8080/", "[2001:db8::1]"],
    ["example.com/page", "example.com"],
    ["https://bücher.example/", "xn--bcher-kva.example"],
    ["null", "null"],
    ["", undefined],
    [undefined, undefined],
    ["https:///path", undefined],
  ];
  for (const [header, host] of cases) t.equal(refererHost(header), host, String(header));
});

t.test("country codes: the 249 of ISO 3166-1, plus XK; case-insensitive; `*`", async (t) => {
  t.equal(ISO_COUNTRIES.size, 249);
  t.equal(parseRule("country", { country: "de", type: "deny" }, api).value, "DE");
  t.equal(parseRule("country", { country: "XK", type: "deny" }, api).value, "XK");
  t.equal(parseRule("country", { country: "*", type: "deny" }, api).value, "*");
  for (const bad of ["UK", "EU", "DEU", "D", "ZZ", "276"]) {
    t.equal(refusal(() => parseRule("country", { country: bad, type: "deny" }, api)).field, "country", bad);
  }
});

t.test("bodies: nanoStream shapes and ours", async (t) => {
  t.same(parseRule("ip", { ip: "103.13.113.0/24", type: "deny", tag: "abuse" }, api), {
    kind: "ip", value: "103.13.113.0/24", type: "deny", actions: ["play"], scope: {}, mode: "enforce", tag: "abuse",
  });
  t.same(parseRule("referer", { domain: "bad.com", info: "hotlinker", type: "deny" }, api), {
    kind: "referer", value: "bad.com", type: "deny", actions: ["play"], scope: {}, mode: "enforce", info: "hotlinker",
  });
  const full = parseRule("country", { country: "CN", type: "deny", actions: ["publish", "play"], stream: "AbCdE-12345", ttlSeconds: 60, mode: "report" }, api);
  t.same(full, { kind: "country", value: "CN", type: "deny", actions: ["play", "publish"], scope: { stream: "AbCdE-12345" }, mode: "report", expiresAt: NOW + 60_000 });
  t.same(parseRule("ip", { ip: "::1", type: "allow", tagScope: "vip" }, api).scope, { tag: "vip" });
  t.same(parseRule("ip", { ip: "::1", type: "allow", scope: { tag: "vip" } }, api).scope, { tag: "vip" });
  t.equal(parseRule("ip", { ip: "::1", type: "deny", ttlSeconds: 0 }, api).expiresAt, null, "ttlSeconds 0 = never expires");
  t.equal(parseRule("ip", { ip: "::1", type: "deny", expiresAt: "2099-01-01T00:00:00Z" }, api).expiresAt, Date.parse("2099-01-01T00:00:00Z"));
  t.equal(parseRule("ip", { ip: "::1", type: "deny", expiresAt: NOW + 5 }, api).expiresAt, NOW + 5);
});

t.test("refused bodies carry bintu's code and name the field", async (t) => {
  const cases: [string, unknown, 1002 | 1004, string][] = [
    ["ip", { type: "deny" }, 1002, "ip"],
    ["ip", { ip: "1.2.3.4" }, 1002, "type"],
    ["ip", { ip: 16909060, type: "deny" }, 1004, "ip"],
    ["ip", { ip: "1.2.3.4", type: "block" }, 1004, "type"],
    ["ip", { ip: "1.2.3.4", type: "deny", actions: [] }, 1004, "actions"],
    ["ip", { ip: "1.2.3.4", type: "deny", actions: ["watch"] }, 1004, "actions"],
    ["ip", { ip: "1.2.3.4", type: "deny", stream: "a/b" }, 1004, "stream"],
    ["ip", { ip: "1.2.3.4", type: "deny", stream: "s1", tagScope: "t" }, 1004, "scope"],
    ["ip", { ip: "1.2.3.4", type: "deny", scope: { stream: "s1", tag: "t" } }, 1004, "scope"],
    ["ip", { ip: "1.2.3.4", type: "deny", scope: { team: "x" } }, 1004, "scope.team"],
    ["ip", { ip: "1.2.3.4", type: "deny", stram: "s1" }, 1004, "stram"],
    ["ip", { ip: "1.2.3.4", type: "deny", expiresAt: NOW - 1 }, 1004, "expiresAt"],
    ["ip", { ip: "1.2.3.4", type: "deny", expiresAt: "tomorrow" }, 1004, "expiresAt"],
    ["ip", { ip: "1.2.3.4", type: "deny", expiresAt: NOW + 9, ttlSeconds: 9 }, 1004, "expiresAt"],
    ["ip", { ip: "1.2.3.4", type: "deny", ttlSeconds: -1 }, 1004, "ttlSeconds"],
    ["ip", { ip: "1.2.3.4", type: "deny", ttlSeconds: 1.5 }, 1004, "ttlSeconds"],
    ["ip", { ip: "1.2.3.4", type: "deny", mode: "dry-run" }, 1004, "mode"],
    ["ip", { ip: "1.2.3.4", type: "deny", id: "mine" }, 1004, "id"],
    ["ip", [], 1004, "body"],
    ["ip", null, 1004, "body"],
    ["referer", { domain: "https://bad.com/", type: "deny" }, 1004, "domain"],
    ["referer", { ip: "1.2.3.4", type: "deny" }, 1004, "ip"],
  ];
  for (const [kind, body, code, field] of cases) {
    const err = refusal(() => parseRule(kind as "ip", body, api));
    t.equal(`${err.code} ${err.field}`, `${code} ${field}`, JSON.stringify(body));
    t.same(err.userinfo, code === 1002 ? { required_parameter: field } : { parameter: field, reason: err.reason });
  }
  t.equal(refusal(() => parseRule("ip", { ip: "1.2.3.4", type: "deny", ttlSeconds: 60 }, { source: "file", nowMs: NOW })).field, "ttlSeconds", "the file takes absolute times");
  t.equal(kindOfEntry({ domain: "x.com" }), "referer");
  t.equal(refusal(() => kindOfEntry({ ip: "1.2.3.4", domain: "x.com" })).field, "rule");
});
