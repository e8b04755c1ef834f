// PlaybackTokens (src/auth/playback-tokens.ts): issue, cached verify (exact key, bounded, never
// extending a token's life, dropped on revocation), nanoStream's revoke answers, metrics callback.
import t, { type Test } from "tap";
import { loadKeySet, type ConfiguredKey } from "../../src/auth/keys.js";
import { PlaybackTokens, type PlaybackTokensOptions } from "../../src/auth/playback-tokens.js";
import { KEEP_AFTER_EXPIRY_SEC, RevocationStore } from "../../src/auth/revocations.js";
import type { ErrorCode } from "../../src/errors.js";
import { EC, ISSUER, LEEWAY, MAX_LENGTH, NOW, ORG } from "./fixtures.js";

const AUTH = { issuer: ISSUER, acceptIssuers: [], leewaySeconds: LEEWAY, maxTokenLength: MAX_LENGTH };

function setup(t: Test, over: Partial<PlaybackTokensOptions> = {}, dir = t.testdir()) {
  const revocations = RevocationStore.open(dir, NOW);
  const seen: [ErrorCode | null, boolean][] = [];
  const tokens = new PlaybackTokens({ keys: loadKeySet(dir, []), revocations, auth: AUTH, onVerify: (code, cached) => seen.push([code, cached]), ...over });
  t.teardown(() => {
    tokens.close();
    revocations.close();
  });
  const issue = (body: Record<string, unknown>, nowSec = NOW) => {
    const r = tokens.issue({ streams: ["OrgAB-s1"], exp: nowSec + 600, ...body }, { org: ORG, nowSec });
    if (!r.ok) throw new Error(r.parameter);
    return r.token;
  };
  return { tokens, revocations, seen, issue, dir };
}

t.test("verify: first a full check, then the cache, both reported", async (t) => {
  const { tokens, seen, issue } = setup(t);
  const token = issue({});
  const first = tokens.verify(token, NOW);
  t.ok(first.ok);
  const second = tokens.verify(token, NOW + 1);
  t.equal(second, first, "the cached result itself");
  t.ok(Object.isFrozen(first) && first.ok && Object.isFrozen(first.claims) && Object.isFrozen(first.claims.streams), "frozen: no caller can alter the cache");
  t.ok(tokens.verify((token + " ").slice(0, -1), NOW).ok, "an equal string (another instance) hits");
  tokens.verify("garbage", NOW);
  tokens.verify("x".repeat(MAX_LENGTH + 1), NOW);
  t.same(seen, [
    [null, false],
    [null, true],
    [null, true],
    ["EDGE_ERR_TOKEN_INVALID", false],
    ["EDGE_ERR_TOKEN_INVALID", false],
  ]);
});

t.test("the cache never extends a token's life: time is re-checked on every hit", async (t) => {
  const { tokens, seen, issue } = setup(t);
  const token = issue({ nbf: NOW + 100, exp: NOW + 600 });
  t.equal(tokens.verify(token, NOW + 200).ok, true);
  t.same(tokens.verify(token, NOW + 600 + LEEWAY), { ok: false, code: "EDGE_ERR_TOKEN_EXPIRED" }, "expired although cached");
  t.equal(tokens.verify(token, NOW + 300).ok, true, "a clock set back: verified afresh");
  t.same(tokens.verify(token, NOW), { ok: false, code: "EDGE_ERR_TOKEN_EXPIRED" }, "before nbf although cached");
  t.same(
    seen.map(([, cached]) => cached),
    [false, false, false, false],
  );
});

t.test("revocation reaches cached tokens at once, whoever revokes", async (t) => {
  const { tokens, revocations, issue } = setup(t);
  const a = issue({ revocable: true });
  const b = issue({ revocable: true });
  t.ok(tokens.verify(a, NOW).ok && tokens.verify(b, NOW).ok);
  const kicked: string[] = [];
  tokens.onRevoke((jti) => kicked.push(jti));
  t.same(tokens.revoke(a, { org: ORG, nowSec: NOW }), { ok: true });
  t.same(tokens.verify(a, NOW), { ok: false, code: "EDGE_ERR_TOKEN_REVOKED" });
  t.ok(tokens.verify(b, NOW).ok, "other tokens unaffected");
  const bJti = (tokens.verify(b, NOW) as { claims: { jti: string } }).claims.jti;
  revocations.revoke(bJti, NOW + 600);
  t.same(tokens.verify(b, NOW), { ok: false, code: "EDGE_ERR_TOKEN_REVOKED" }, "a revocation from the list itself (e.g. the fleet bus)");
  t.equal(kicked.length, 2, "listeners told of both");
});

t.test("a revocation drops the token's cache entry", async (t) => {
  // A list that announces revocations but answers has() with false isolates the drop from the
  // per-hit check: the next verify must be a miss.
  let announce: (jti: string) => void = () => {};
  const list = { has: () => false, revoke: () => true, onRevoke: (fn: (jti: string) => void) => ((announce = fn), () => {}) };
  const cached: boolean[] = [];
  const tokens = new PlaybackTokens({ keys: loadKeySet(t.testdir(), []), revocations: list, auth: AUTH, onVerify: (_code, hit) => cached.push(hit) });
  const r = tokens.issue({ streams: ["OrgAB-s1"], exp: NOW + 600 }, { org: ORG, nowSec: NOW });
  if (!r.ok) throw new Error(r.parameter);
  tokens.verify(r.token, NOW);
  tokens.verify(r.token, NOW);
  announce(r.claims.jti);
  tokens.verify(r.token, NOW);
  t.same(cached, [false, true, false], "miss, hit, miss after the announcement");
});

t.test("the cache is bounded and keyed by the exact token", async (t) => {
  const { tokens, seen, issue } = setup(t, { cacheMaxEntries: 2 });
  const [a, b, c] = [issue({}), issue({}), issue({})];
  for (const tok of [a, b, c, a]) tokens.verify(tok, NOW);
  t.same(
    seen.map(([, cached]) => cached),
    [false, false, false, false],
    "a was evicted by c",
  );
  const [head, body, sig] = a.split(".");
  const sibling = `${head}.${body}.${sig.slice(0, -1)}${sig.at(-1) === "A" ? "B" : "A"}`;
  t.same(tokens.verify(sibling, NOW), { ok: false, code: "EDGE_ERR_TOKEN_INVALID" }, "a token differing in one character is not a hit");
});

t.test("revoke: nanoStream's refusals, as typed reasons", async (t) => {
  const { tokens, issue } = setup(t);
  const at = { org: ORG, nowSec: NOW };
  t.same(tokens.revoke("garbage", at), { ok: false, refusal: "malformed" });
  t.same(tokens.revoke(42 as never, at), { ok: false, refusal: "malformed" });
  t.same(tokens.revoke(issue({}), at), { ok: false, refusal: "not_revocable" });
  t.same(tokens.revoke(issue({ revocable: false }), at), { ok: false, refusal: "not_revocable" });
  t.same(tokens.revoke(issue({ revocable: true }), { org: "OrgXY", nowSec: NOW }), { ok: false, refusal: "other_org" });
  const expiring = issue({ revocable: true, exp: NOW + 60 });
  const afterExpiry = { org: ORG, nowSec: NOW + 60 + KEEP_AFTER_EXPIRY_SEC - 1 };
  t.same(tokens.revoke(expiring, afterExpiry), { ok: true }, "an expired token can be revoked for 24 h after expiry");
  t.same(tokens.revoke(expiring, afterExpiry), { ok: true }, "again: not an error");
  const stale = issue({ revocable: true, exp: NOW + 60 });
  t.same(tokens.revoke(stale, { org: ORG, nowSec: NOW + 60 + KEEP_AFTER_EXPIRY_SEC }), { ok: false, refusal: "expired" });
  t.same(tokens.revoke(issue({ revocable: true, nbf: NOW + 300 }), at), { ok: true }, "a token not yet valid can be revoked");
});

t.test("revocations persist: a restarted service refuses the token", async (t) => {
  const dir = t.testdir();
  const first = setup(t, {}, dir);
  const token = first.issue({ revocable: true });
  t.same(first.tokens.revoke(token, { org: ORG, nowSec: NOW }), { ok: true });
  first.tokens.close();
  first.revocations.close();
  const revocations = RevocationStore.open(dir, NOW);
  const again = new PlaybackTokens({ keys: loadKeySet(dir, []), revocations, auth: AUTH });
  t.teardown(() => revocations.close());
  t.same(again.verify(token, NOW), { ok: false, code: "EDGE_ERR_TOKEN_REVOKED" });
});

t.test("issue: refusals, the signing key, accepted issuers", async (t) => {
  const { tokens } = setup(t);
  t.same(tokens.issue({ exp: NOW + 60 }, { org: ORG, nowSec: NOW }), {
    ok: false,
    refusal: "bad_parameter",
    parameter: "exactly one of streams, groupid, orgawide",
  });
  const dir = t.testdir();
  const ecSigner: ConfiguredKey = { kid: "ec", alg: "ES256", privateKey: EC.privatePem };
  const revocations = RevocationStore.open(dir, NOW);
  t.teardown(() => revocations.close());
  const partner = new PlaybackTokens({ keys: loadKeySet(dir, [ecSigner]), revocations, auth: { ...AUTH, issuer: "partner" } });
  const r = partner.issue({ orgawide: true, exp: NOW + 60 }, { org: ORG, nowSec: NOW });
  if (!r.ok) throw new Error(r.parameter);
  t.equal((JSON.parse(Buffer.from(r.token.split(".")[0], "base64url").toString()) as { alg: string }).alg, "ES256", "signed with the newest configured key");
  const keys = loadKeySet(dir, [{ kid: "ec", alg: "ES256", publicKey: EC.publicPem }]);
  const strict = new PlaybackTokens({ keys, revocations, auth: AUTH });
  const lenient = new PlaybackTokens({ keys, revocations, auth: { ...AUTH, acceptIssuers: ["partner"] } });
  t.same(strict.verify(r.token, NOW), { ok: false, code: "EDGE_ERR_TOKEN_INVALID" }, "issuer not accepted");
  t.ok(lenient.verify(r.token, NOW).ok, "acceptIssuers");
  const verifyOnly = new PlaybackTokens({ keys: { ...keys, signing: null }, revocations, auth: AUTH });
  t.throws(() => verifyOnly.issue({ orgawide: true, exp: NOW + 60 }, { org: ORG, nowSec: NOW }), /no signing key/);
  t.same(verifyOnly.jwks(), keys.jwks());
});
