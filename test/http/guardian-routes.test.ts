// The Guardian API end to end over a listening fastify (issue 5 §2): nanoStream's bodies, the
// bintu error envelope, nothing stored on a refusal, list filters, delete, roles.
import t, { type Test } from "tap";
import { writeFileSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { join } from "node:path";
import Fastify from "fastify";
import { Guardian } from "../../src/guardian/guardian.js";
import { GuardianStore } from "../../src/guardian/store.js";
import { createAdminAuth, type AdminAuth, type Role } from "../../src/http/admin-auth.js";
import { registerGuardianRoutes } from "../../src/http/guardian-routes.js";
import { waitFor } from "../helpers/wait.js";

const API_KEY = "test-organisation-key";
const DAY = 86_400_000;

/** Keys per role, for the role checks the admin key alone cannot show (user tokens come later). */
function roleAuth(keys: Record<string, Role>): AdminAuth {
  return { authenticate: (headers: IncomingHttpHeaders) => keys[String(headers["x-bintu-apikey"])] ?? null };
}

async function start(t: Test, auth: AdminAuth = createAdminAuth({ apiKey: API_KEY }), maxRules = 10_000) {
  const dir = t.testdir({ "rules.yaml": "rules:\n  - country: KP\n    type: deny\n    id: kp\n" });
  const store = GuardianStore.open(join(dir, "data"), { ipRuleTtlMs: DAY });
  const guardian = new Guardian({ apiRules: store, rulesFile: join(dir, "rules.yaml"), allowMissingReferer: true });
  const app = Fastify();
  registerGuardianRoutes(app, { guardian, store, auth, maxRules });
  await app.listen({ port: 0, host: "127.0.0.1" });
  t.teardown(async () => {
    await app.close();
    guardian.close();
    store.close();
  });
  const { port } = app.server.address() as { port: number };
  const call = (method: string, path: string, body?: unknown, key: string | null = API_KEY) =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      headers: { ...(key !== null && { "X-BINTU-APIKEY": key }), ...(body !== undefined && { "content-type": "application/json" }) },
    });
  return { call, store, guardian, dir };
}

async function envelope(t: Test, res: Response, status: number, code: number) {
  t.equal(res.status, status, `HTTP ${status}`);
  const body = (await res.json()) as { error: { code: number; message: string; userinfo: Record<string, unknown> } };
  t.equal(body.error.code, code, `code ${code}`);
  return body.error.userinfo;
}

t.test("without a valid key: 401 everywhere, nothing stored", async (t) => {
  const { call, store } = await start(t);
  for (const key of [null, "wrong"]) {
    await envelope(t, await call("GET", "/guardian", undefined, key), 401, 4002);
    await envelope(t, await call("POST", "/guardian/ip", { ip: "1.2.3.4", type: "deny" }, key), 401, 4002);
    await envelope(t, await call("DELETE", "/guardian/ip/x", undefined, key), 401, 4002);
  }
  t.same(store.list(), []);
});

t.test("an oversized or non-JSON body answers in bintu's envelope, nothing stored", async (t) => {
  const { call, store } = await start(t);
  const tooLarge = await call("POST", "/guardian/ip", { ip: "1.2.3.4", type: "deny", info: "x".repeat(1_100_000) });
  t.same(
    [tooLarge.status, await tooLarge.json()],
    [413, { error: { message: "Wrong Data Type", code: 1004, userinfo: { reason: "request body exceeds api.bodyLimit" } } }],
  );
  const port = new URL(tooLarge.url).port;
  const form = await fetch(`http://127.0.0.1:${port}/guardian/ip`, {
    method: "POST",
    body: "ip=1.2.3.4&type=deny",
    headers: { "X-BINTU-APIKEY": API_KEY, "content-type": "application/x-www-form-urlencoded" },
  });
  t.same(
    [form.status, await form.json()],
    [415, { error: { message: "Wrong Data Type", code: 1004, userinfo: { reason: "unsupported Content-Type; send application/json" } } }],
  );
  t.same(store.list(), []);
});

t.test("nanoStream bodies create rules that are in force when the answer arrives", async (t) => {
  const { call, guardian } = await start(t);
  const res = await call("POST", "/guardian/ip", { ip: "103.13.113.0/24", type: "deny", tag: "abuse" });
  t.equal(res.status, 200);
  const ip = (await res.json()) as Record<string, unknown>;
  t.match(ip, {
    kind: "ip",
    ip: "103.13.113.0/24",
    value: "103.13.113.0/24",
    type: "deny",
    actions: ["play"],
    scope: {},
    tag: "abuse",
    mode: "enforce",
    source: "api",
  });
  t.equal(Date.parse(ip.expiresAt as string) - Date.parse(ip.createdAt as string), DAY, "IP rules expire after 24 h by default");
  t.same(guardian.decide({ action: "play", ip: "::ffff:103.13.113.9", stream: "s", tags: [] }), { allow: false, ruleId: ip.id, kind: "ip" });

  const ref = (await (await call("POST", "/guardian/referer", { domain: "bad.com", info: "hotlinker", type: "deny" })).json()) as Record<string, unknown>;
  t.match(ref, { kind: "referer", domain: "bad.com", info: "hotlinker", expiresAt: null });
  const alias = await call("POST", "/guardian/referrer", { domain: "*.Bad.com", type: "deny" });
  t.match(await alias.json(), { kind: "referer", domain: "*.bad.com" });
  const c = await call("POST", "/guardian/country", { country: "cn", type: "deny", stream: "AbCdE-12345", actions: ["play", "publish"], mode: "report" });
  t.match(await c.json(), { kind: "country", country: "CN", scope: { stream: "AbCdE-12345" }, actions: ["play", "publish"], mode: "report" });
});

t.test("bad bodies: 400 with bintu's envelope naming the field, nothing stored", async (t) => {
  const { call, store } = await start(t);
  const cases: [string, unknown, number, Record<string, unknown>][] = [
    ["ip", { ip: "10.1.2.3/8", type: "deny" }, 1004, { parameter: "ip", reason: "host bits set; the network is 10.0.0.0/8" }],
    ["ip", { ip: "1.2.3.4/33", type: "deny" }, 1004, { parameter: "ip" }],
    ["ip", { type: "deny" }, 1002, { required_parameter: "ip" }],
    ["ip", { ip: "1.2.3.4" }, 1002, { required_parameter: "type" }],
    ["ip", { ip: "1.2.3.4", type: "deny", stram: "x" }, 1004, { parameter: "stram", reason: "unknown field" }],
    ["referer", { domain: "-bad.com", type: "deny" }, 1004, { parameter: "domain" }],
    ["referer", { domain: "https://bad.com/x", type: "deny" }, 1004, { parameter: "domain", reason: "a bare domain, not a URL" }],
    ["country", { country: "UK", type: "deny" }, 1004, { parameter: "country" }],
    ["ip", "{not json", 1004, { reason: "body is not valid JSON" }],
    ["ip", "[1]", 1004, { parameter: "body" }],
  ];
  for (const [kind, body, code, userinfo] of cases) {
    t.match(await envelope(t, await call("POST", `/guardian/${kind}`, body), 400, code), userinfo, JSON.stringify(body));
  }
  t.equal((await call("POST", "/guardian/ip")).status, 400, "no body");
  t.same(store.list(), []);
});

t.test("list with filters, file rules included; delete", async (t) => {
  const { call } = await start(t);
  const add = async (kind: string, body: object) => ((await (await call("POST", `/guardian/${kind}`, body)).json()) as { id: string }).id;
  const a = await add("ip", { ip: "1.1.1.1", type: "deny" });
  const b = await add("ip", { ip: "2001:db8::/32", type: "deny", stream: "AbCdE-12345" });
  const c = await add("referer", { domain: "x.com", type: "allow", tagScope: "vip" });
  const ids = async (path: string) => ((await (await call("GET", path)).json()) as { id: string }[]).map((r) => r.id);
  t.same(await ids("/guardian"), [a, b, c, "file:kp"]);
  t.same(await ids("/guardian/ip"), [a, b]);
  t.same(await ids("/guardian/ip?stream=AbCdE-12345"), [b]);
  t.same(await ids("/guardian/referrer?tag=vip"), [c]);
  t.same(await ids("/guardian/country"), ["file:kp"]);
  await envelope(t, await call("GET", "/guardian/asn"), 404, 3005);
  await envelope(t, await call("GET", "/guardian?stream=a&stream=b"), 400, 1004);

  await envelope(t, await call("DELETE", `/guardian/referer/${a}`), 404, 3005);
  t.equal((await call("DELETE", `/guardian/ip/${a}`)).status, 204);
  await envelope(t, await call("DELETE", `/guardian/ip/${a}`), 404, 3005);
  t.match(await envelope(t, await call("DELETE", "/guardian/country/file:kp"), 403, 2001), { reason: /rules file/ });
  t.same(await ids("/guardian"), [b, c, "file:kp"]);
});

t.test("roles: nanoReadOnly reads; nanoUser and nanoAdmin write", async (t) => {
  const { call } = await start(t, roleAuth({ ro: "nanoReadOnly", user: "nanoUser", admin: "nanoAdmin" }));
  t.equal((await call("GET", "/guardian", undefined, "ro")).status, 200);
  await envelope(t, await call("POST", "/guardian/ip", { ip: "1.1.1.1", type: "deny" }, "ro"), 403, 2001);
  await envelope(t, await call("DELETE", "/guardian/ip/x", undefined, "ro"), 403, 2001);
  const made = await call("POST", "/guardian/ip", { ip: "1.1.1.1", type: "deny" }, "user");
  t.equal(made.status, 200);
  const { id } = (await made.json()) as { id: string };
  t.equal((await call("DELETE", `/guardian/ip/${id}`, undefined, "user")).status, 204);
  t.equal((await call("POST", "/guardian/referer", { domain: "*", type: "deny" }, "admin")).status, 200);
});

t.test("a rules file written after start shows up in the list within a second", async (t) => {
  const { call, dir } = await start(t);
  writeFileSync(join(dir, "rules.yaml"), "rules: []\n");
  const ms = await waitFor("the file rule to go", async () => ((await (await call("GET", "/guardian")).json()) as unknown[]).length === 0, 1000);
  t.ok(ms < 1000, `gone after ${ms} ms`);
});

t.test("guardian.maxRules: past it an add is a 409 in bintu's envelope; deleting makes room", async (t) => {
  const { call } = await start(t, undefined, 3);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await call("POST", "/guardian/ip", { ip: `198.51.100.${i}`, type: "deny" });
    t.equal(res.status, 200);
    ids.push(((await res.json()) as { id: string }).id);
  }
  const refused = await call("POST", "/guardian/ip", { ip: "198.51.100.9", type: "deny" });
  t.equal(refused.status, 409);
  t.same(await refused.json(), { error: { message: "Rule limit reached", code: 3006, userinfo: { max: 3 } } });
  t.equal((await call("DELETE", `/guardian/ip/${ids[0]}`)).status, 204);
  t.equal((await call("POST", "/guardian/ip", { ip: "198.51.100.9", type: "deny" })).status, 200, "room again");
});

t.test("GET /v1/guardian/would-deny: the last 200 would-denies of report-mode rules, newest first; read-only may read", async (t) => {
  const { call, guardian } = await start(t, roleAuth({ [API_KEY]: "nanoAdmin", reader: "nanoReadOnly" }));
  t.equal((await call("GET", "/v1/guardian/would-deny", undefined, null)).status, 401);
  const id = ((await (await call("POST", "/guardian/ip", { ip: "198.51.100.0/24", type: "deny", mode: "report" })).json()) as { id: string }).id;
  for (let i = 0; i < 205; i++) {
    guardian.decide({ action: "play", ip: `198.51.100.${i % 250}`, stream: "secret-key", tags: [], protocol: "rtmp" });
  }
  guardian.decide({ action: "play", ip: "192.0.2.1", stream: "secret-key", tags: [] }); // no rule meets it
  const res = await call("GET", "/v1/guardian/would-deny", undefined, "reader");
  t.equal(res.status, 200);
  const body = (await res.json()) as { capacity: number; recorded: number; events: { ip: string; ruleId: string; protocol: string; stream: string }[] };
  t.equal(body.capacity, 200);
  t.equal(body.recorded, 205, "every would-deny counted");
  t.equal(body.events.length, 200, "the ring keeps the last 200");
  t.same(
    body.events.slice(0, 2).map((e) => e.ip),
    ["198.51.100.204", "198.51.100.203"],
    "newest first",
  );
  t.equal(body.events[199].ip, "198.51.100.5", "the oldest kept");
  t.ok(
    body.events.every((e) => e.ruleId === id && e.protocol === "rtmp" && /^ref:/.test(e.stream)),
    "rule, protocol and stream reference",
  );
});
