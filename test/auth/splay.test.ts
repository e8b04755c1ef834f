// nanoStream splay tokens (src/auth/splay.ts): issue-request rules, clock sweeps with leeway,
// refusal codes, and the binding matrix scope × stream, ip × client, domain × Referer/Origin.
import t from "tap";
import fc from "fast-check";
import { signJws } from "../../src/auth/jws.js";
import {
  MAX_LIFETIME_REVOCABLE_SEC,
  MAX_LIFETIME_SEC,
  checkPlayClaims,
  issueSplayToken,
  validateIssueRequest,
  verifySplay,
  type PlayContext,
  type VerifyContext,
} from "../../src/auth/splay.js";
import { ISSUER, JWS_KEYS, LEEWAY, MAX_LENGTH, NOW, ORG, VERIFY_KEYS, claims } from "./fixtures.js";

const ctx = (over: Partial<VerifyContext> = {}): VerifyContext => ({
  keys: VERIFY_KEYS,
  nowSec: NOW,
  leewaySec: LEEWAY,
  maxLength: MAX_LENGTH,
  issuers: new Set([ISSUER, "partner"]),
  isRevoked: () => false,
  ...over,
});
const signed = (payload: Record<string, unknown>) => signJws({ typ: "JWT" }, payload, JWS_KEYS.EdDSA.sign);
const codeOf = (token: string, over: Partial<VerifyContext> = {}) => {
  const r = verifySplay(token, ctx(over));
  return r.ok ? "ok" : r.code;
};
const issue = (body: unknown, nowSec = NOW) =>
  issueSplayToken(body, { signingKey: JWS_KEYS.EdDSA.sign, issuer: ISSUER, org: ORG, jti: "jti-9", nowSec, maxLength: MAX_LENGTH });

t.test("issue requests: nanoStream's rules, refused naming the parameter", async (t) => {
  const exp = NOW + 3600;
  const cases: [unknown, RegExp | null][] = [
    [{ streams: ["A-1"], exp }, null],
    [{ groupid: "g", exp }, null],
    [{ orgawide: true, exp }, null],
    [{ streams: ["A-1"], exp, nbf: NOW - 10, domain: "Example.COM", ip: "203.0.113.5", tag: "t", user: "u", revocable: true, forceDisconnect: false }, null],
    [null, /a JSON object body/],
    [[{ streams: ["A"], exp }], /a JSON object body/],
    ["streams", /a JSON object body/],
    [{ exp }, /exactly one of streams, groupid, orgawide/],
    [{ streams: ["A"], groupid: "g", exp }, /exactly one of/],
    [{ streams: ["A"], orgawide: false, exp }, /exactly one of/],
    [{ orgawide: false, exp }, /orgawide \(true\)/],
    [{ streams: [], exp }, /streams \(a non-empty array/],
    [{ streams: [""], exp }, /streams/],
    [{ streams: "A-1", exp }, /streams/],
    [{ streams: [1], exp }, /streams/],
    [{ groupid: "", exp }, /groupid/],
    [{ groupid: 7, exp }, /groupid/],
    [{ streams: ["A"] }, /exp \(unix seconds\)/],
    [{ streams: ["A"], exp: String(exp) }, /exp \(unix seconds\)/],
    [{ streams: ["A"], exp: exp + 0.5 }, /exp \(unix seconds\)/],
    [{ streams: ["A"], exp: null }, /exp \(unix seconds\)/],
    [{ streams: ["A"], exp: NOW }, /exp \(in the future\)/],
    [{ streams: ["A"], exp, nbf: exp + 1 }, /nbf/],
    [{ streams: ["A"], exp, nbf: "0" }, /nbf/],
    [{ streams: ["A"], exp, ip: "::1" }, /ip \(an IPv4 address\)/],
    [{ streams: ["A"], exp, ip: "::ffff:1.2.3.4" }, /ip/],
    [{ streams: ["A"], exp, ip: "1.2.3.256" }, /ip/],
    [{ streams: ["A"], exp, ip: "01.2.3.4" }, /ip/],
    [{ streams: ["A"], exp, ip: "1.2.3.4/24" }, /ip/],
    [{ streams: ["A"], exp, domain: "https://example.com" }, /domain \(a bare domain name/],
    [{ streams: ["A"], exp, domain: "example.com/path" }, /domain/],
    [{ streams: ["A"], exp, domain: "*.example.com" }, /domain/],
    [{ streams: ["A"], exp, domain: "203.0.113.5" }, /domain/],
    [{ streams: ["A"], exp, domain: "-bad.com" }, /domain/],
    [{ streams: ["A"], exp, domain: `${"a".repeat(64)}.com` }, /domain/],
    [{ streams: ["A"], exp, domain: `${"a.".repeat(126)}com` }, /domain/],
    [{ streams: ["A"], exp, domain: "example.com." }, /domain/],
    [{ streams: ["A"], exp, tag: 5 }, /tag \(a string\)/],
    [{ streams: ["A"], exp, user: null }, /user/],
    [{ streams: ["A"], exp, revocable: "true" }, /revocable \(true or false\)/],
    [{ streams: ["A"], exp, forceDisconnect: 1 }, /forceDisconnect/],
  ];
  for (const [body, refused] of cases) {
    const r = validateIssueRequest(body, NOW);
    if (refused === null) t.ok(r.ok, `accepts ${JSON.stringify(body)}`);
    else t.match(r, { ok: false, refusal: "bad_parameter", parameter: refused }, `refuses ${JSON.stringify(body)}`);
  }
  t.same(
    validateIssueRequest({ streams: ["A"], exp: NOW + 60, cust: "x", aud: "other", sub: "evil", jti: "mine" }, NOW),
    { ok: true, fields: { streams: ["A"], exp: NOW + 60 } },
    "unknown and reserved fields are ignored, never copied",
  );
  const full = validateIssueRequest({ streams: ["A"], exp: NOW + 60, domain: "Player.Example.COM", ip: "10.0.0.1", revocable: false }, NOW);
  t.same(
    full,
    { ok: true, fields: { streams: ["A"], exp: NOW + 60, domain: "player.example.com", ip: "10.0.0.1", revocable: false } },
    "domain kept in lower case",
  );
});

t.test("max lifetimes at issue: 24 h revocable, 365 days otherwise, counted from now", async (t) => {
  const accepted = (d: number, revocable: boolean) => validateIssueRequest({ orgawide: true, exp: NOW + d, revocable }, NOW).ok;
  for (const [max, revocable] of [
    [MAX_LIFETIME_REVOCABLE_SEC, true],
    [MAX_LIFETIME_SEC, false],
  ] as const) {
    t.equal(accepted(max, revocable), true, `revocable=${revocable}: exactly the maximum`);
    t.equal(accepted(max + 1, revocable), false, `revocable=${revocable}: one second more`);
    t.equal(accepted(1, revocable), true, "one second ahead");
    t.equal(accepted(0, revocable), false, "now");
  }
  fc.assert(
    fc.property(fc.integer({ min: -10 * 86_400, max: 400 * 86_400 }), fc.boolean(), (d, revocable) => {
      const max = revocable ? MAX_LIFETIME_REVOCABLE_SEC : MAX_LIFETIME_SEC;
      return accepted(d, revocable) === (d > 0 && d <= max);
    }),
    { seed: 61, numRuns: 2000 },
  );
  const long = issue({ streams: ["x".repeat(5000)], exp: NOW + 60 });
  t.match(long, { ok: false, refusal: "bad_parameter", parameter: /token would exceed 4096 characters/ }, "a token the edge would refuse is not issued");
});

t.test("issued tokens carry the claims and verify", async (t) => {
  const r = issue({ streams: ["OrgAB-s1"], exp: NOW + 600, nbf: NOW, revocable: true, ip: "203.0.113.5" });
  if (!r.ok) throw new Error(r.parameter);
  t.same(r.claims, {
    aud: "splay",
    iss: ISSUER,
    sub: ORG,
    iat: NOW,
    jti: "jti-9",
    streams: ["OrgAB-s1"],
    exp: NOW + 600,
    nbf: NOW,
    ip: "203.0.113.5",
    revocable: true,
  });
  t.same(verifySplay(r.token, ctx()), { ok: true, claims: r.claims });
  const header: unknown = JSON.parse(Buffer.from(r.token.split(".")[0], "base64url").toString());
  t.same(header, { typ: "JWT", alg: "EdDSA", kid: "ed" }, "EdDSA, as nanoStream signs");
});

t.test("clock sweep: nbf and exp boundaries with leeway", async (t) => {
  const nbf = NOW + 100;
  const exp = NOW + 1000;
  const token = signed(claims({ nbf, exp }));
  for (const leewaySec of [0, LEEWAY]) {
    let wrong = 0;
    for (let now = NOW - 200; now <= exp + 200; now++) {
      const expected = now < nbf - leewaySec || now >= exp + leewaySec ? "EDGE_ERR_TOKEN_EXPIRED" : "ok";
      if (codeOf(token, { nowSec: now, leewaySec }) !== expected) wrong++;
    }
    t.equal(wrong, 0, `leeway ${leewaySec}: every second from nbf-200 to exp+200 as RFC 7519 §4.1.4/§4.1.5 say`);
    t.equal(codeOf(token, { nowSec: nbf - leewaySec - 1, leewaySec }), "EDGE_ERR_TOKEN_EXPIRED", "just before nbf - leeway");
    t.equal(codeOf(token, { nowSec: nbf - leewaySec, leewaySec }), "ok", "at nbf - leeway");
    t.equal(codeOf(token, { nowSec: exp + leewaySec - 1, leewaySec }), "ok", "last second");
    t.equal(codeOf(token, { nowSec: exp + leewaySec, leewaySec }), "EDGE_ERR_TOKEN_EXPIRED", "at exp + leeway");
  }
});

t.test("an exp further ahead than any issuer may sign is invalid at verify", async (t) => {
  t.equal(codeOf(signed(claims({ exp: NOW + MAX_LIFETIME_SEC + LEEWAY }))), "ok");
  t.equal(codeOf(signed(claims({ exp: NOW + MAX_LIFETIME_SEC + LEEWAY + 1 }))), "EDGE_ERR_TOKEN_INVALID");
  t.equal(codeOf(signed(claims({ exp: NOW + MAX_LIFETIME_REVOCABLE_SEC + LEEWAY, revocable: true }))), "ok");
  t.equal(codeOf(signed(claims({ exp: NOW + MAX_LIFETIME_REVOCABLE_SEC + LEEWAY + 1, revocable: true }))), "EDGE_ERR_TOKEN_INVALID");
});

t.test("refusal codes for claims", async (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{}, "ok"],
    [{ aud: ["other", "splay"] }, "ok"],
    [{ iss: "partner" }, "ok"],
    [{ extra: { nested: true } }, "ok"],
    [{ aud: "other" }, "EDGE_ERR_TOKEN_INVALID"],
    [{ aud: ["other"] }, "EDGE_ERR_TOKEN_INVALID"],
    [{ aud: undefined }, "EDGE_ERR_TOKEN_INVALID"],
    [{ iss: "nanocosmos" }, "EDGE_ERR_TOKEN_INVALID"],
    [{ iss: undefined }, "EDGE_ERR_TOKEN_INVALID"],
    [{ jti: undefined }, "EDGE_ERR_TOKEN_INVALID"],
    [{ jti: "" }, "EDGE_ERR_TOKEN_INVALID"],
    [{ jti: 5 }, "EDGE_ERR_TOKEN_INVALID"],
    [{ sub: undefined }, "EDGE_ERR_TOKEN_INVALID"],
    [{ iat: undefined }, "EDGE_ERR_TOKEN_INVALID"],
    [{ exp: undefined }, "EDGE_ERR_TOKEN_INVALID"],
    [{ exp: String(NOW + 60) }, "EDGE_ERR_TOKEN_INVALID"],
    [{ nbf: "0" }, "EDGE_ERR_TOKEN_INVALID"],
    [{ streams: undefined }, "EDGE_ERR_TOKEN_INVALID"],
    [{ groupid: "g" }, "EDGE_ERR_TOKEN_INVALID"],
    [{ streams: undefined, orgawide: false }, "EDGE_ERR_TOKEN_INVALID"],
    [{ streams: "OrgAB-stream1" }, "EDGE_ERR_TOKEN_INVALID"],
    [{ ip: 1 }, "EDGE_ERR_TOKEN_INVALID"],
    [{ domain: ["a.com"] }, "EDGE_ERR_TOKEN_INVALID"],
    [{ revocable: "yes" }, "EDGE_ERR_TOKEN_INVALID"],
    [{ forceDisconnect: 1 }, "EDGE_ERR_TOKEN_INVALID"],
    [{ exp: NOW - 3600 }, "EDGE_ERR_TOKEN_EXPIRED"],
    [{ nbf: NOW + 3600, exp: NOW + 7200 }, "EDGE_ERR_TOKEN_EXPIRED"],
  ];
  for (const [over, code] of cases) t.equal(codeOf(signed(claims(over))), code, `${JSON.stringify(over)} → ${code}`);
  const token = signed(claims());
  t.equal(codeOf(token, { isRevoked: (jti) => jti === "jti-1" }), "EDGE_ERR_TOKEN_REVOKED");
  t.equal(codeOf(signed(claims({ exp: NOW - 3600 })), { isRevoked: () => true }), "EDGE_ERR_TOKEN_REVOKED", "revoked wins over expired");
  t.equal(codeOf(token, { issuers: new Set(["someone-else"]) }), "EDGE_ERR_TOKEN_INVALID");
  for (const garbage of ["", "a.b.c", "x".repeat(10 * 1024), token + token, 42 as never]) t.equal(codeOf(garbage), "EDGE_ERR_TOKEN_INVALID");
});

const play = (over: Partial<PlayContext> = {}): PlayContext => ({ stream: "OrgAB-stream1", streamId: "id-1", org: ORG, ip: "203.0.113.5", ...over });

t.test("binding matrix: scope × stream", async (t) => {
  const rows: [Record<string, unknown>, Partial<PlayContext>, string | null][] = [
    [{ streams: ["OrgAB-stream1", "OrgAB-stream2"] }, {}, null],
    [{ streams: ["OrgAB-stream1", "OrgAB-stream2"] }, { stream: "OrgAB-stream2" }, null],
    [{ streams: ["OrgAB-stream1"] }, { stream: "OrgAB-stream3" }, "EDGE_ERR_TOKEN_SCOPE"],
    [{ streams: ["OrgAB-stream1"] }, { stream: "orgab-stream1" }, "EDGE_ERR_TOKEN_SCOPE"],
    [{ streams: undefined, groupid: "id-1" }, {}, null],
    [{ streams: undefined, groupid: "id-1" }, { streamId: "id-2" }, "EDGE_ERR_TOKEN_SCOPE"],
    [{ streams: undefined, groupid: "OrgAB-stream1" }, {}, "EDGE_ERR_TOKEN_SCOPE"],
    [{ streams: undefined, orgawide: true }, { stream: "OrgAB-anything" }, null],
    [{ streams: undefined, orgawide: true }, { org: "OrgXY" }, "EDGE_ERR_TOKEN_SCOPE"],
  ];
  for (const [over, p, code] of rows) t.equal(checkPlayClaims(claims(over), play(p)), code, `${JSON.stringify(over)} × ${JSON.stringify(p)}`);
});

t.test("binding matrix: ip × client", async (t) => {
  const bound = claims({ ip: "203.0.113.5" });
  const rows: [string, string | null][] = [
    ["203.0.113.5", null],
    ["::ffff:203.0.113.5", null],
    ["::FFFF:203.0.113.5", null],
    ["203.0.113.6", "EDGE_ERR_TOKEN_IP"],
    ["::ffff:203.0.113.6", "EDGE_ERR_TOKEN_IP"],
    ["::1", "EDGE_ERR_TOKEN_IP"],
    ["2001:db8::cb00:7105", "EDGE_ERR_TOKEN_IP"],
    ["::203.0.113.5", "EDGE_ERR_TOKEN_IP"],
    ["", "EDGE_ERR_TOKEN_IP"],
  ];
  for (const [ip, code] of rows) t.equal(checkPlayClaims(bound, play({ ip })), code, `client ${ip || "(none)"}`);
  t.equal(checkPlayClaims(claims(), play({ ip: "2001:db8::1" })), null, "no ip claim: any client");
});

t.test("binding matrix: domain × Referer / Origin", async (t) => {
  const bound = claims({ domain: "example.com" });
  const rows: [string | undefined, string | undefined, string | null][] = [
    ["https://example.com/watch", undefined, null],
    ["https://www.example.com:8443/a?b", undefined, null],
    ["https://EXAMPLE.com/", undefined, null],
    ["https://example.com./", undefined, null],
    ["http://a.b.example.com", undefined, null],
    [undefined, "https://player.example.com", null],
    [undefined, "https://example.com:443", null],
    // The Guardian's reading of the header (issue 11 §4, src/primitives/domain.ts pageHost): a bare
    // host is that host, and a present Referer is never replaced by the Origin.
    ["app.example.com", undefined, null],
    ["example.com/page", undefined, null],
    ["evil.net", "https://example.com", "EDGE_ERR_TOKEN_DOMAIN"],
    ["not a url", "https://example.com", "EDGE_ERR_TOKEN_DOMAIN"],
    ["", "https://example.com", null],
    ["https://badexample.com/", undefined, "EDGE_ERR_TOKEN_DOMAIN"],
    ["https://example.com.evil.net/", undefined, "EDGE_ERR_TOKEN_DOMAIN"],
    ["https://evil.net/?r=example.com", undefined, "EDGE_ERR_TOKEN_DOMAIN"],
    ["https://evil.net/", "https://example.com", "EDGE_ERR_TOKEN_DOMAIN"],
    [undefined, "null", "EDGE_ERR_TOKEN_DOMAIN"],
    ["http://[::1]/", undefined, "EDGE_ERR_TOKEN_DOMAIN"],
    ["", "", "EDGE_ERR_TOKEN_DOMAIN"],
    [undefined, undefined, "EDGE_ERR_TOKEN_DOMAIN"],
  ];
  for (const [referer, origin, code] of rows) {
    t.equal(checkPlayClaims(bound, play({ referer, origin })), code, `Referer ${referer} / Origin ${origin}`);
  }
  t.equal(checkPlayClaims(claims({ domain: "Example.COM" }), play({ referer: "https://www.example.com/" })), null, "a foreign issuer's upper-case domain");
  t.equal(checkPlayClaims(claims(), play()), null, "no domain claim: no Referer needed");
  const all = claims({ streams: ["OrgAB-stream1"], ip: "203.0.113.5", domain: "example.com" });
  t.equal(checkPlayClaims(all, play({ stream: "x", ip: "1.1.1.1" })), "EDGE_ERR_TOKEN_SCOPE", "scope is checked first");
  t.equal(checkPlayClaims(all, play({ ip: "1.1.1.1" })), "EDGE_ERR_TOKEN_IP", "then ip");
  t.equal(checkPlayClaims(all, play({ referer: "https://www.example.com/" })), null);
});
