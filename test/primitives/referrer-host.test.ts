// One referrer-host rule (issue 11 §4): the Guardian's referrer rules and a playback token's domain
// binding read Referer / Origin with one function (src/primitives/domain.ts pageHost). The same
// headers go through both callers and each row says what both must answer; before this rule the
// token binding refused a bare-host Referer (`app.example.com`) that the Guardian accepted.
import t from "tap";
import { checkPlayClaims, type SplayClaims } from "../../src/auth/splay.js";
import { compile } from "../../src/guardian/snapshot.js";
import { pageHost } from "../../src/primitives/domain.js";
import { check, NOW, ref } from "../guardian/helpers.js";

// Guardian: only example.com and its subdomains, and a missing referrer refused — the rule set that
// means what a token bound to `example.com` means.
const rules = compile([ref("*", "deny"), ref("example.com", "allow"), ref("*.example.com", "allow")], NOW);
const guardianAllows = (referer?: string, origin?: string) => check(rules, { referer, origin }, false).allow;

const claims: SplayClaims = { aud: "splay", iss: "edge", sub: "org", iat: 0, jti: "j", exp: 2e9, orgawide: true, domain: "example.com" };
const tokenAllows = (referer?: string, origin?: string) =>
  checkPlayClaims(claims, { stream: "s1", streamId: "id", org: "org", ip: "192.0.2.1", referer, origin }) === null;

// [Referer, Origin, host read, both allow]
const rows: [string | undefined, string | undefined, string | undefined, boolean][] = [
  ["https://example.com/watch", undefined, "example.com", true],
  ["https://www.Example.com:8443/a?b#c", undefined, "www.example.com", true],
  ["https://example.com./", undefined, "example.com", true],
  ["http://user:pw@a.b.example.com/", undefined, "a.b.example.com", true],
  ["app.example.com", undefined, "app.example.com", true],
  ["app.example.com/player.html", undefined, "app.example.com", true],
  ["example.com:8080", undefined, "example.com", true],
  [undefined, "https://player.example.com", "player.example.com", true],
  ["", "https://example.com", "example.com", true],
  [undefined, "example.com", "example.com", true],
  ["https://badexample.com/", undefined, "badexample.com", false],
  ["https://example.com.evil.net/", undefined, "example.com.evil.net", false],
  ["https://evil.net/?r=example.com", undefined, "evil.net", false],
  ["evil.net", "https://example.com", "evil.net", false],
  ["https://evil.net/", "https://example.com", "evil.net", false],
  ["not a url", "https://example.com", "not a url", false],
  ["https:///path", "https://example.com", undefined, false],
  ["https://[2001:db8::1]/", undefined, "[2001:db8::1]", false],
  [undefined, "null", "null", false],
  ["", "", undefined, false],
  [undefined, undefined, undefined, false],
];

t.test("Guardian referrer rules and token domain binding read the same host and agree", async (t) => {
  for (const [referer, origin, host, allowed] of rows) {
    const label = `Referer ${JSON.stringify(referer)} / Origin ${JSON.stringify(origin)}`;
    t.equal(pageHost(referer, origin), host, `${label}: host ${host}`);
    t.equal(guardianAllows(referer, origin), allowed, `${label}: Guardian ${allowed ? "allows" : "refuses"}`);
    t.equal(tokenAllows(referer, origin), allowed, `${label}: token binding ${allowed ? "allows" : "refuses"}`);
  }
});

t.test("an IDN Referer is matched in punycode by both", async (t) => {
  const idnRules = compile([ref("*", "deny"), ref("bücher.example", "allow")], NOW);
  const idnClaims = { ...claims, domain: "xn--bcher-kva.example" };
  const referer = "https://bücher.example/";
  t.equal(pageHost(referer, undefined), "xn--bcher-kva.example");
  t.ok(check(idnRules, { referer }, false).allow, "Guardian");
  t.equal(checkPlayClaims(idnClaims, { stream: "s1", streamId: "id", org: "org", ip: "192.0.2.1", referer }), null, "token binding");
});
