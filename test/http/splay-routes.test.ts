// The token service over HTTP (src/http/splay-routes.ts), end to end on a listening fastify with
// fetch: issue / verify / revoke / JWKS, nanoStream's error answers, and no 5xx under fuzzed bodies.
import t, { type Test } from "tap";
import fc from "fast-check";
import Fastify from "fastify";
import { loadKeySet, keySetFromJwks } from "../../src/auth/keys.js";
import { PlaybackTokens } from "../../src/auth/playback-tokens.js";
import { RevocationStore } from "../../src/auth/revocations.js";
import { verifySplay } from "../../src/auth/splay.js";
import { createAdminAuth } from "../../src/http/admin-auth.js";
import { registerSplayRoutes } from "../../src/http/splay-routes.js";

const API_KEY = "test-organisation-key";
const ORG = "OrgAB";
const AUTH = { issuer: "bintu-edge", acceptIssuers: [], leewaySeconds: 30, maxTokenLength: 4096 };
const START = 1_800_000_000;

interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

async function startService(t: Test) {
  const dir = t.testdir();
  const revocations = RevocationStore.open(dir, START);
  const tokens = new PlaybackTokens({ keys: loadKeySet(dir, []), revocations, auth: AUTH });
  const clock = { now: START };
  const app = Fastify({ logger: false, bodyLimit: 8 * 1024 });
  registerSplayRoutes(app, { tokens, auth: createAdminAuth({ apiKey: API_KEY }), org: ORG, now: () => clock.now });
  app.post("/outside", async () => ({ ok: true }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  t.teardown(async () => {
    await app.close();
    tokens.close();
    revocations.close();
  });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const call = async (method: string, path: string, opts: { body?: unknown; raw?: string | Blob; type?: string; key?: string | null } = {}): Promise<Reply> => {
    const headers: Record<string, string> = {};
    const key = opts.key === undefined ? API_KEY : opts.key;
    if (key !== null) headers["X-BINTU-APIKEY"] = key;
    const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
    if (body !== undefined && opts.type !== "") headers["Content-Type"] = opts.type ?? "application/json";
    const res = await fetch(base + path, { method, headers, body });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text === "" ? undefined : JSON.parse(text) };
  };
  const issue = async (body: Record<string, unknown>) => {
    const r = await call("POST", "/api/v1/splay", { body: { streams: [`${ORG}-s1`], exp: clock.now + 600, ...body } });
    return (r.body as { data: { token: string } }).data.token;
  };
  return { tokens, clock, call, issue };
}

const failure = (errorCode: number, message?: string | RegExp) => ({ success: false, errorCode, ...(message ? { message } : {}) });

/** Status, then nanoStream's error envelope with exactly its three fields. */
function isFailure(t: Test, r: Reply, status: number, errorCode: number, message?: string | RegExp, name = `${status} ${errorCode}`) {
  t.equal(r.status, status, name);
  t.same(Object.keys(r.body as object), ["success", "errorCode", "message"], name);
  t.match(r.body, failure(errorCode, message), name);
}

t.test("issue, verify, revoke: the nanoStream flow", async (t) => {
  const { call, clock } = await startService(t);
  const issued = await call("POST", "/api/v1/splay", { body: { streams: [`${ORG}-s1`], exp: clock.now + 3600, revocable: true } });
  t.equal(issued.status, 200);
  t.match(issued.headers.get("content-type"), /^application\/json; charset=utf-8$/);
  t.equal(issued.headers.get("cache-control"), "no-store");
  const token = (issued.body as { data: { token: string } }).data.token;
  t.same(issued.body, { success: true, data: { token } });
  t.same(
    (await call("POST", "/api/v1/splay/verify", { body: { token }, key: null })).body,
    { success: true, data: { token } },
    "verify needs no key and repeats the token",
  );
  const revoked = await call("POST", "/api/v1/splay/revoke", { body: { token } });
  t.equal(revoked.status, 204);
  t.equal(revoked.body, undefined, "204 has no body");
  isFailure(t, await call("POST", "/api/v1/splay/verify", { body: { token } }), 403, 2004, "jwt revoked");
  t.equal((await call("POST", "/api/v1/splay/revoke", { body: { token } })).status, 204, "revoking twice is fine");
});

t.test("API key: 403 with 1001 when missing or wrong, on issue and revoke", async (t) => {
  const { call, issue } = await startService(t);
  const token = await issue({ revocable: true });
  for (const key of [null, "wrong", "", API_KEY + "x", API_KEY.toUpperCase()]) {
    for (const path of ["/api/v1/splay", "/api/v1/splay/revoke"]) {
      const r = await call("POST", path, { body: { token, orgawide: true, exp: START + 60 }, key });
      isFailure(t, r, 403, 1001, "Provided APIKey is not valid", `${path} key=${JSON.stringify(key)}`);
    }
  }
  t.equal((await call("POST", "/api/v1/splay/verify", { body: { token } })).status, 200, "the failed revokes revoked nothing");
});

t.test("issue refusals: 1000 for bad bodies, in nanoStream's envelope only", async (t) => {
  const { call, clock } = await startService(t);
  const cases: [Parameters<typeof call>[2], number, RegExp][] = [
    [{ body: { exp: clock.now + 60 } }, 400, /^Parameter required: exactly one of streams, groupid, orgawide$/],
    [{ body: { orgawide: true } }, 400, /exp/],
    [{ body: { orgawide: true, exp: clock.now + 2 * 86_400, revocable: true } }, 400, /24 h/],
    [{ body: [1] }, 400, /a JSON object body/],
    [{}, 400, /a JSON object body/],
    [{ raw: "{not json" }, 400, /a JSON object body/],
    [{ raw: "" }, 400, /a JSON object body/],
    [{ raw: "null" }, 400, /a JSON object body/],
    [{ raw: "orgawide=true", type: "application/x-www-form-urlencoded" }, 415, /Content-Type application\/json/],
    [{ raw: '{"orgawide":true}', type: "text/plain" }, 400, /a JSON object body/],
    [{ raw: JSON.stringify({ orgawide: true, exp: clock.now + 60, pad: "x".repeat(9000) }) }, 413, /a smaller body/],
  ];
  for (const [opts, status, message] of cases) {
    isFailure(t, await call("POST", "/api/v1/splay", opts), status, 1000, message, `${JSON.stringify(opts).slice(0, 80)} → ${status}`);
  }
  const outside = await call("POST", "/outside", { raw: "{not json" });
  t.match(outside.body, { statusCode: 400, code: "FST_ERR_CTP_INVALID_JSON_BODY" }, "the parent's routes keep their own error handling");
});

t.test("verify refusals: 1002 expired, 2004 otherwise, 1000 without a token", async (t) => {
  const { call, issue, clock } = await startService(t);
  const token = await issue({ exp: clock.now + 60 });
  isFailure(t, await call("POST", "/api/v1/splay/verify", { body: { token: 42 } }), 400, 1000, "Parameter required: token");
  isFailure(t, await call("POST", "/api/v1/splay/verify", { body: {} }), 400, 1000, "Parameter required: token");
  // 5,000 characters: over auth.maxTokenLength, under the body limit (10 KiB bodies are 413, above).
  for (const bad of ["garbage", token.slice(0, -2), `${token}x`, "x".repeat(5000), `${token}.${token}`]) {
    isFailure(t, await call("POST", "/api/v1/splay/verify", { body: { token: bad } }), 403, 2004, "Malformed JWT", bad.slice(0, 20));
  }
  clock.now += 60 + 30;
  isFailure(t, await call("POST", "/api/v1/splay/verify", { body: { token } }), 403, 1002, "jwt expired");
});

t.test("revoke refusals: 2011 not revocable, 2012 other organisation, 2004 malformed", async (t) => {
  const { call, issue, tokens, clock } = await startService(t);
  const fixed = await issue({});
  isFailure(t, await call("POST", "/api/v1/splay/revoke", { body: { token: fixed } }), 400, 2011, "The token is not allowed for revocation");
  const foreign = tokens.issue({ orgawide: true, exp: clock.now + 60, revocable: true }, { org: "OrgXY", nowSec: clock.now });
  if (!foreign.ok) throw new Error(foreign.parameter);
  isFailure(t, await call("POST", "/api/v1/splay/revoke", { body: { token: foreign.token } }), 403, 2012);
  isFailure(t, await call("POST", "/api/v1/splay/revoke", { body: { token: "a.b.c" } }), 400, 2004, "Malformed JWT");
  isFailure(t, await call("POST", "/api/v1/splay/revoke", { body: {} }), 400, 1000, "Parameter required: token");
  const late = await issue({ revocable: true, exp: clock.now + 60 });
  clock.now += 60 + 24 * 3600;
  isFailure(t, await call("POST", "/api/v1/splay/revoke", { body: { token: late } }), 403, 1002, "jwt expired");
});

t.test("JWKS: a second edge verifies the first's tokens from it", async (t) => {
  const { call, issue, clock } = await startService(t);
  const r = await call("GET", "/.well-known/jwks.json", { key: null });
  t.equal(r.status, 200);
  t.match(r.headers.get("content-type"), /^application\/jwk-set\+json/);
  t.match(r.headers.get("cache-control"), /max-age=\d+/);
  const jwks = r.body as { keys: Record<string, unknown>[] };
  t.equal(jwks.keys.length, 1);
  t.notOk("d" in jwks.keys[0], "no private member");
  const second = keySetFromJwks(jwks);
  const token = await issue({});
  const verified = verifySplay(token, {
    keys: second.verification,
    nowSec: clock.now,
    leewaySec: 30,
    maxLength: 4096,
    issuers: new Set(["bintu-edge"]),
    isRevoked: () => false,
  });
  t.ok(verified.ok, "verified offline by the second edge");
});

t.test("fuzz: no 5xx and always nanoStream's envelope (200 runs, fixed seed)", async (t) => {
  const { call, issue, clock } = await startService(t);
  const valid = await issue({ revocable: true });
  const tokenLike = fc.oneof(
    fc.constant(valid),
    fc.string(),
    fc.nat(valid.length - 1).map((i) => valid.slice(0, i) + "A" + valid.slice(i + 1)),
  );
  const field = fc.oneof(fc.jsonValue(), tokenLike, fc.integer({ min: clock.now - 10, max: clock.now + 400 * 86_400 }));
  const body = fc.oneof(
    fc
      .dictionary(
        fc.constantFrom("token", "streams", "groupid", "orgawide", "exp", "nbf", "ip", "domain", "revocable", "tag", "__proto__", "constructor"),
        field,
      )
      .map((o) => JSON.stringify(o)),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.string({ unit: "binary", maxLength: 200 }),
  );
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("/api/v1/splay", "/api/v1/splay/verify", "/api/v1/splay/revoke"),
      body,
      fc.constantFrom("application/json", "application/json; charset=utf-8", "text/plain", ""),
      fc.constantFrom(API_KEY, null, "nope"),
      async (path, raw, type, key) => {
        n++;
        const r = await call("POST", path, { raw: type === "" ? new Blob([raw]) : raw, type, key });
        if (r.status >= 500) return false;
        return r.status === 204 ? r.body === undefined : typeof (r.body as { success?: unknown }).success === "boolean";
      },
    ),
    { seed: 66, numRuns: 200 },
  );
  t.equal(n, 200);
});
