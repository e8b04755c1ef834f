// A refused API key is answered in the envelope of the family of the route it was sent to (issue 11
// §7): on a real edge for every guarded route, and for a role too low through the one guard,
// requireRole(auth, min, family), on a bare fastify.
import t from "tap";
import Fastify from "fastify";
import { requireRole, type Role } from "../../src/http/admin-auth.js";
import type { RouteFamily } from "../../src/http/wire-codes.js";
import { startEdge } from "../helpers/edge.js";

/** Status and exact body per family: what bintu, nanoStream's token service and the edge send. */
const UNAUTHENTICATED: Record<RouteFamily, [number, unknown]> = {
  bintu: [401, { error: { message: "User Credentials are not valid", code: 4002, userinfo: {} } }],
  guardian: [401, { error: { message: "User Credentials are not valid", code: 4002, userinfo: {} } }],
  splay: [403, { success: false, errorCode: 1001, message: "Provided APIKey is not valid" }],
  edge: [401, { code: "EDGE_ERR_UNAUTHORIZED", reason: "missing or invalid API key" }],
};
const FORBIDDEN: Record<RouteFamily, [number, unknown]> = {
  bintu: [403, { error: { message: "Access denied", code: 2001, userinfo: {} } }],
  guardian: [403, { error: { message: "Access denied", code: 2001, userinfo: {} } }],
  splay: [403, { success: false, errorCode: 1001, message: "Provided APIKey is not valid" }],
  edge: [403, { code: "EDGE_ERR_FORBIDDEN", reason: "role may not do this" }],
};

t.test("a bad or missing key on every guarded route of a real edge gets its family's envelope", async (t) => {
  const edge = await startEdge(t);
  const stream = await edge.createStream();
  const routes: [RouteFamily, string, string, unknown?][] = [
    ["bintu", "GET", "/stream"],
    ["bintu", "POST", "/stream", {}],
    ["bintu", "GET", `/stream/${stream.id}`],
    ["bintu", "PUT", `/stream/${stream.id}/tag`, { tags: ["a"] }],
    ["bintu", "PUT", `/stream/${stream.id}/lock`],
    ["bintu", "PUT", `/stream/${stream.id}/unlock`],
    ["bintu", "DELETE", `/stream/${stream.id}`],
    ["guardian", "GET", "/guardian"],
    ["guardian", "GET", "/guardian/ip"],
    ["guardian", "POST", "/guardian/ip", { ip: "192.0.2.1", type: "deny" }],
    ["guardian", "POST", "/guardian/referrer", { domain: "x.example", type: "deny" }],
    ["guardian", "DELETE", "/guardian/ip/some-id"],
    ["splay", "POST", "/api/v1/splay", { orgawide: true, exp: Math.floor(Date.now() / 1000) + 60 }],
    ["splay", "POST", "/api/v1/splay/revoke", { token: "a.b.c" }],
    ["edge", "GET", "/v1/sessions"],
    ["edge", "DELETE", "/v1/sessions/some-id"],
    // The dashboard's own routes (issue 16).
    ["edge", "GET", "/v1/dashboard/info"],
    ["edge", "GET", "/v1/edges"],
    ["edge", "GET", "/v1/samples?stream=x"],
    ["edge", "GET", "/v1/events"],
    ["edge", "GET", "/v1/keys"],
    ["edge", "POST", "/v1/keys", { role: "nanoUser", label: "x" }],
    ["edge", "DELETE", "/v1/keys/some-id"],
  ];
  for (const key of [null, "wrong", ""]) {
    for (const [family, method, path, json] of routes) {
      const res = await edge.api(path, { method, key, json });
      const [status, body] = UNAUTHENTICATED[family];
      const name = `${family}: ${method} ${path} key=${JSON.stringify(key)}`;
      t.equal(res.status, status, name);
      t.same(await res.json(), body, name);
    }
  }
  const kept = await edge.api(`/stream/${stream.id}`);
  t.equal(((await kept.json()) as { state: string }).state, "created", "nothing changed");
});

t.test("one guard for every family: no key → 401-style refusal, a role too low → 403-style", async (t) => {
  const keys: Record<string, Role> = { ro: "nanoReadOnly", admin: "nanoAdmin" };
  const auth = { authenticate: (headers: Record<string, unknown>) => keys[String(headers["x-bintu-apikey"])] ?? null };
  const app = Fastify();
  for (const family of Object.keys(FORBIDDEN) as RouteFamily[]) {
    app.get(`/${family}`, { onRequest: requireRole(auth, "nanoAdmin", family) }, async () => ({ ok: true }));
  }
  await app.listen({ port: 0, host: "127.0.0.1" });
  t.teardown(() => app.close());
  const { port } = app.server.address() as { port: number };
  for (const family of Object.keys(FORBIDDEN) as RouteFamily[]) {
    const call = (key?: string) => fetch(`http://127.0.0.1:${port}/${family}`, { headers: key ? { "X-BINTU-APIKEY": key } : {} });
    for (const [key, [status, body]] of [
      [undefined, UNAUTHENTICATED[family]],
      ["ro", FORBIDDEN[family]],
    ] as const) {
      const res = await call(key);
      t.equal(res.status, status, `${family} key=${key}`);
      t.same(await res.json(), body, `${family} key=${key}`);
    }
    const ok = await call("admin");
    t.same([ok.status, await ok.json()], [200, { ok: true }], `${family}: the admin key passes`);
  }
});
