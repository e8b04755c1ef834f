// The precedence table (README "Guardian", snapshot.ts header), one test per row, and the edges
// of issue 5's list: /0, /32, /128, overlapping and nested ranges, allow inside deny, expiry with
// an injected clock, scopes, actions, report mode, the referrer matrix and countries.
import t from "tap";
import { compile } from "../../src/guardian/snapshot.js";
import { check, country, ip, NOW, ref, verdict } from "./helpers.js";

const v = (rules: Parameters<typeof compile>[0], req: Parameters<typeof check>[1], allowMissing = true) =>
  verdict(check(compile(rules, NOW), req, allowMissing));

t.test("no rules, or no rule that applies: allow", async (t) => {
  t.equal(v([], { ip: "1.2.3.4" }), "allow");
  t.equal(v([ip("1.2.3.4", "deny", { stream: "other" })], { ip: "1.2.3.4" }), "allow");
  t.equal(v([ip("1.2.3.4", "deny", { actions: ["publish"] })], { ip: "1.2.3.4" }), "allow");
});

t.test("IP: the longest prefix wins; deny beats allow on the same prefix", async (t) => {
  const rules = [
    ip("10.0.0.0/8", "deny", {}, { id: "deny8" }),
    ip("10.1.0.0/16", "allow", {}, { id: "allow16" }),
    ip("10.1.2.0/24", "deny", {}, { id: "deny24" }),
    ip("10.1.2.3", "allow", {}, { id: "allow32" }),
    ip("10.9.0.0/16", "allow", {}, { id: "tie-allow", at: -5 }),
    ip("10.9.0.0/16", "deny", {}, { id: "tie-deny", at: 5 }),
  ];
  t.equal(v(rules, { ip: "10.200.0.1" }), "deny deny8 ip", "inside /8 only");
  t.equal(v(rules, { ip: "10.1.9.9" }), "allow", "allow /16 inside deny /8");
  t.equal(v(rules, { ip: "10.1.2.4" }), "deny deny24 ip", "deny /24 inside allow /16");
  t.equal(v(rules, { ip: "10.1.2.3" }), "allow", "allow /32 inside deny /24");
  t.equal(v(rules, { ip: "10.9.1.1" }), "deny tie-deny ip", "same prefix: deny wins, even when the allow is older");
  t.equal(v(rules, { ip: "11.0.0.0" }), "allow");
  t.equal(v(rules, { ip: "9.255.255.255" }), "allow");
});

t.test("IP edges: /0, /32, /128, the ends of the address space", async (t) => {
  const rules = [ip("0.0.0.0/0", "deny", {}, { id: "all4" }), ip("::/0", "deny", {}, { id: "all6" }), ip("203.0.113.7", "allow"), ip("2001:db8::7", "allow")];
  t.equal(v(rules, { ip: "0.0.0.0" }), "deny all4 ip");
  t.equal(v(rules, { ip: "255.255.255.255" }), "deny all4 ip");
  t.equal(v(rules, { ip: "203.0.113.7" }), "allow", "/32 allow inside /0 deny");
  t.equal(v(rules, { ip: "203.0.113.8" }), "deny all4 ip");
  t.equal(v(rules, { ip: "2001:db8::7" }), "allow", "/128 allow inside ::/0 deny");
  t.equal(v(rules, { ip: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" }), "deny all6 ip");
  t.equal(v(rules, { ip: "::" }), "deny all6 ip");
  // ::/0 is IPv6 only: a mapped client is IPv4 and meets the IPv4 rules.
  t.equal(v([ip("::/0", "deny")], { ip: "::ffff:203.0.113.9" }), "allow");
  const top = [ip("255.0.0.0/8", "deny", {}, { id: "top8" }), ip("255.255.255.255", "allow", {}, { expiresAt: NOW + 10 })];
  t.equal(v(top, { ip: "255.255.255.255" }), "allow", "a /32 ending where its parent ends");
  t.equal(v(top, { ip: "255.255.255.255", nowMs: NOW + 10 }), "deny top8 ip", "…falls back to the parent once expired");
});

t.test("IPv4-mapped clients are IPv4 in every spelling", async (t) => {
  const rules = [ip("198.51.100.0/24", "deny", {}, { id: "net" })];
  for (const form of ["198.51.100.7", "::ffff:198.51.100.7", "::FFFF:c633:6407", "0:0:0:0:0:ffff:c633:6407", "0000:0000:0000:0000:0000:ffff:c633:6407"]) {
    t.equal(v(rules, { ip: form }), "deny net ip", form);
  }
  // Not mapped: IPv4-compatible and NAT64 stay IPv6 (as in net.BlockList).
  t.equal(v(rules, { ip: "::198.51.100.7" }), "allow");
  t.equal(v(rules, { ip: "64:ff9b::c633:6407" }), "allow");
  t.equal(v(rules, { ip: "fe80::1%eth0" }), "allow", "a zone is ignored");
  t.equal(v([ip("fe80::/10", "deny", {}, { id: "ll" })], { ip: "fe80::1%eth0" }), "deny ll ip");
});

t.test("an unparsable address is checked as 0.0.0.0: allow-lists refuse it, block-lists ignore it", async (t) => {
  t.equal(v([ip("0.0.0.0/0", "deny", {}, { id: "all" }), ip("10.0.0.0/8", "allow")], { ip: "" }), "deny all ip");
  t.equal(v([ip("10.0.0.0/8", "deny")], { ip: "not-an-ip" }), "allow");
});

t.test("expiry with an injected clock: an expired rule never matches; the next one takes over", async (t) => {
  const rules = [ip("10.0.0.0/8", "deny", {}, { id: "long", expiresAt: NOW + 2000 }), ip("10.1.0.0/16", "allow", {}, { expiresAt: NOW + 1000 })];
  const snap = compile(rules, NOW);
  t.equal(verdict(check(snap, { ip: "10.1.0.1", nowMs: NOW + 999 })), "allow");
  t.equal(verdict(check(snap, { ip: "10.1.0.1", nowMs: NOW + 1000 })), "deny long ip", "allow expired: the /8 deny applies");
  t.equal(verdict(check(snap, { ip: "10.1.0.1", nowMs: NOW + 2000 })), "allow", "both expired");
  t.equal(snap.nextExpiry, NOW + 1000);
  t.equal(compile(rules, NOW + 1500).rules.length, 1, "a compile after an expiry leaves the rule out");
  const refs = [ref("*", "deny", {}, { id: "star", expiresAt: NOW + 5 }), country("DE", "deny", {}, { id: "de", expiresAt: NOW + 5 })];
  t.equal(v(refs, { referer: "https://x.com/", nowMs: NOW + 4 }), "deny star referer");
  t.equal(v(refs, { referer: "https://x.com/", country: "DE", nowMs: NOW + 5 }), "allow");
});

t.test("scopes: only applicability; specificity decides across organisation, stream and tag rules", async (t) => {
  const rules = [
    ip("10.0.0.0/8", "deny", {}, { id: "org8" }),
    ip("10.1.0.0/16", "allow", { stream: "s1" }, { id: "s1-allow16" }),
    ip("10.1.2.0/24", "deny", { tagScope: "vip" }, { id: "vip-deny24" }),
    ip("10.2.0.0/16", "deny", { scope: { tag: "eu" } }, { id: "eu" }),
    ip("10.3.0.0/16", "allow", { stream: "s1" }, { id: "tie-allow", at: -9 }),
    ip("10.3.0.0/16", "deny", {}, { id: "tie-deny" }),
  ];
  t.equal(v(rules, { ip: "10.1.0.1", stream: "s1" }), "allow", "stream allow /16 beats org deny /8");
  t.equal(v(rules, { ip: "10.1.0.1", stream: "s2" }), "deny org8 ip", "…only for that stream");
  t.equal(v(rules, { ip: "10.1.2.1", stream: "s1", tags: ["vip"] }), "deny vip-deny24 ip", "tag deny /24 beats stream allow /16");
  t.equal(v(rules, { ip: "10.1.2.1", stream: "s1", tags: ["other"] }), "allow");
  t.equal(v(rules, { ip: "10.2.0.1", stream: "s2", tags: ["x", "eu"] }), "deny eu ip");
  t.equal(v(rules, { ip: "10.3.0.1", stream: "s1" }), "deny tie-deny ip", "same prefix across scopes: deny wins");
});

t.test("actions: play by default; publish rules make ingest allow-lists", async (t) => {
  const rules = [ip("0.0.0.0/0", "deny", { actions: ["publish"] }, { id: "pub-all" }), ip("198.51.100.0/24", "allow", { actions: ["publish"] })];
  t.equal(v(rules, { action: "publish", ip: "198.51.100.9" }), "allow");
  t.equal(v(rules, { action: "publish", ip: "203.0.113.1" }), "deny pub-all ip");
  t.equal(v(rules, { action: "play", ip: "203.0.113.1" }), "allow", "players are not affected");
  const both = [ip("203.0.113.1", "deny", { actions: ["play", "publish"] }, { id: "both" })];
  t.equal(v(both, { action: "play", ip: "203.0.113.1" }), "deny both ip");
  t.equal(v(both, { action: "publish", ip: "203.0.113.1" }), "deny both ip");
});

t.test("kinds are separate checks: an allow never lifts another kind's deny", async (t) => {
  const rules = [ip("10.0.0.0/8", "allow"), ref("evil.com", "deny", {}, { id: "evil" }), country("CN", "deny", {}, { id: "cn" })];
  t.equal(v(rules, { ip: "10.0.0.1", referer: "https://evil.com/" }), "deny evil referer");
  t.equal(v(rules, { ip: "10.0.0.1", country: "CN", referer: "https://evil.com/" }), "deny cn country", "checked in order ip, country, referrer");
});

t.test("referrers: exact > longest *.suffix > *; deny wins ties; nanoStream's allow-list recipe", async (t) => {
  const allowList = [ref("*", "deny", {}, { id: "star" }), ref("app.you.com", "allow"), ref("*.partner.net", "allow")];
  const matrix: [string | undefined, string][] = [
    ["https://app.you.com/player", "allow"],
    ["https://APP.You.COM:8443/x?y#z", "allow"], // case, port, query
    ["https://app.you.com./", "allow"], // trailing dot
    ["http://user:pw@app.you.com/", "allow"], // user info
    ["https://evil.com/?r=https://app.you.com/", "deny star referer"], // spoof in the query
    ["https://app.you.com.evil.com/", "deny star referer"], // spoof as a prefix
    ["https://app.you.com@evil.com/", "deny star referer"], // spoof as user info
    ["https://you.com/", "deny star referer"],
    ["https://cdn.partner.net/", "allow"], // wildcard, depth 1
    ["https://a.b.c.partner.net/", "allow"], // wildcard, depth 3
    ["https://partner.net/", "deny star referer"], // *.x does not match x itself
    ["https://[2001:db8::1]:8080/", "deny star referer"],
    ["app.you.com", "allow"], // bare host (some non-browser players)
    [undefined, "allow"], // missing: allowed by default
  ];
  for (const [referer, expected] of matrix) t.equal(v(allowList, { referer }), expected, String(referer));
  t.equal(v(allowList, { origin: "https://app.you.com" }), "allow", "Origin when Referer is missing");
  t.equal(v(allowList, { referer: "", origin: "https://evil.com" }), "deny star referer", "an empty Referer counts as missing");
  t.equal(v(allowList, { referer: "https://evil.com/", origin: "https://app.you.com" }), "deny star referer", "Referer wins over Origin");
  const nested = [
    ref("*.you.com", "allow"),
    ref("bad.you.com", "deny", {}, { id: "bad" }),
    ref("*.x.you.com", "deny", {}, { id: "x" }),
    ref("ok.x.you.com", "allow"),
  ];
  t.equal(v(nested, { referer: "https://bad.you.com/" }), "deny bad referer", "a specific deny beats a wildcard allow");
  t.equal(v(nested, { referer: "https://a.x.you.com/" }), "deny x referer", "the longer suffix wins");
  t.equal(v(nested, { referer: "https://ok.x.you.com/" }), "allow");
  t.equal(v([ref("*", "allow"), ref("*", "deny", {}, { id: "d" })], { referer: "https://a.com/" }), "deny d referer");
});

t.test("IDN referrers match their punycode rule", async (t) => {
  const rules = [ref("bücher.example", "deny", {}, { id: "idn" })];
  t.equal(v(rules, { referer: "https://xn--bcher-kva.example/" }), "deny idn referer", "as browsers send it");
  t.equal(v(rules, { referer: "https://BÜCHER.example/" }), "deny idn referer", "raw Unicode, other case");
});

t.test("missing referrer with allowMissingReferer off: refused by the referrer rules that apply", async (t) => {
  const rules = [ref("evil.com", "deny", {}, { id: "evil" }), ref("*", "allow", { stream: "s1" }, { id: "star-s1" })];
  t.equal(v(rules, {}, false), "deny star-s1 referer", "named: a `*` rule first, from any scope");
  t.equal(v(rules, { stream: "s2" }, false), "deny evil referer", "else the first rule that applies");
  t.equal(v([ip("10.0.0.0/8", "deny")], {}, false), "allow", "no referrer rule applies: nothing to refuse by");
  t.equal(v(rules, {}, true), "allow");
});

t.test("countries: code > *; unknown country meets only *", async (t) => {
  const rules = [country("*", "deny", {}, { id: "all" }), country("DE", "allow"), country("at", "allow")];
  t.equal(v(rules, { country: "DE" }), "allow");
  t.equal(v(rules, { country: "AT" }), "allow", "codes are stored uppercase");
  t.equal(v(rules, { country: "US" }), "deny all country");
  t.equal(v(rules, {}), "deny all country", "no geo answer: refused by the allow-list");
  t.equal(v([country("CN", "deny")], {}), "allow", "no geo answer: a block-list passes");
});

t.test("report mode never denies, and names the rules that would have", async (t) => {
  const rules = [
    ip("10.0.0.0/8", "deny", { mode: "report" }, { id: "rep-ip" }),
    country("CN", "deny", { mode: "report" }, { id: "rep-cn" }),
    ref("*", "deny", { mode: "report" }, { id: "rep-star" }),
    ip("10.1.0.0/16", "allow", {}, { id: "enf-allow" }),
    ip("172.16.0.0/12", "deny", {}, { id: "enf-deny" }),
  ];
  t.equal(v(rules, { ip: "10.0.0.1", country: "CN", referer: "https://a.com/" }), "allow report:rep-ip,rep-cn,rep-star");
  t.equal(v(rules, { ip: "10.1.0.1" }), "allow", "an enforce allow that is more specific would win: nothing to report");
  t.equal(v(rules, { ip: "172.16.0.1", country: "CN" }), "deny enf-deny ip", "enforce rules still deny");
  t.equal(v(rules, {}, false), "allow report:rep-star", "a missing referrer that report rules would refuse");
});

t.test("a snapshot is frozen and allocation-free for the common answers", async (t) => {
  const snap = compile([ip("10.0.0.0/8", "deny", {}, { id: "d" })], NOW);
  t.ok(Object.isFrozen(snap));
  t.equal(check(snap, { ip: "10.0.0.1" }), check(snap, { ip: "10.0.0.2" }), "the same refusal object");
  t.equal(check(snap, { ip: "11.0.0.1" }), check(snap, { ip: "11.0.0.2" }), "the same allow object");
  t.same(snap.counts.ip, { enforce: 1, report: 0 });
});
