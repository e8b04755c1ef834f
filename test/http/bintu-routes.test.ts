import t, { type Test } from "tap";
import Fastify from "fastify";
import { StreamRegistry } from "../../src/bintu/registry/registry.js";
import type { BintuStreamJson, BintuUrls } from "../../src/bintu/registry/stream-json.js";
import { createAdminAuth, hasRole } from "../../src/http/admin-auth.js";
import { registerBintuRoutes } from "../../src/http/bintu-routes.js";

const API_KEY = "test-organisation-key";
const URLS: BintuUrls = {
  rtmpIngest: "rtmp://edge.test:1935/live",
  rtmpPlay: "rtmp://edge.test:1935/live",
  flvPlayBase: "http://edge.test:8000/live",
};
const UNKNOWN_ID = "0b0e4a4c-5f43-4a47-9d0c-7b0f7a0e0c11";

interface Api {
  registry: StreamRegistry;
  /** fetch against the server with the admin key unless `headers` says otherwise. */
  call(method: string, path: string, opts?: { body?: string; headers?: Record<string, string> }): Promise<Response>;
}

async function startApi(t: Test): Promise<Api> {
  const registry = StreamRegistry.open(t.testdir(), { orgHash: "OrgAB" });
  t.teardown(() => registry.close());
  const app = Fastify();
  registerBintuRoutes(app, { registry, auth: createAdminAuth({ apiKey: API_KEY }), urls: URLS });
  await app.listen({ port: 0, host: "127.0.0.1" });
  t.teardown(() => app.close());
  const { port } = app.server.address() as { port: number };
  return {
    registry,
    call: (method, path, opts = {}) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        body: opts.body,
        headers: opts.headers ?? {
          "X-BINTU-APIKEY": API_KEY,
          ...(opts.body === undefined ? {} : { "content-type": "application/json" }),
        },
      }),
  };
}

/** Asserts a bintu error envelope with the given HTTP status and code; returns its userinfo. */
async function expectError(t: Test, res: Response, status: number, code: number) {
  t.equal(res.status, status, `HTTP ${status}`);
  const body = (await res.json()) as { error: { message: string; code: number; userinfo: unknown } };
  t.equal(body.error.code, code, `code ${code}`);
  t.type(body.error.message, "string");
  t.type(body.error.userinfo, "object");
  return body.error.userinfo as Record<string, unknown>;
}

async function createStream(t: Test, api: Api, tags?: string[]): Promise<BintuStreamJson> {
  const res = await api.call("POST", "/stream", { body: JSON.stringify(tags ? { tags } : {}) });
  t.equal(res.status, 200);
  return (await res.json()) as BintuStreamJson;
}

t.test("auth: the API key is required, checked, and its header name is case-insensitive", async (t) => {
  const api = await startApi(t);
  const listWith = (headers: Record<string, string>) => api.call("GET", "/stream", { headers });
  await expectError(t, await listWith({}), 401, 4002);
  for (const wrong of ["wrong", "", API_KEY + "x", API_KEY.slice(1)]) {
    await expectError(t, await listWith({ "X-BINTU-APIKEY": wrong }), 401, 4002);
  }
  for (const name of ["x-bintu-apikey", "X-Bintu-ApiKey", "X-BINTU-APIKEY"]) {
    t.equal((await listWith({ [name]: API_KEY })).status, 200, name);
  }
  // Auth comes before the body is looked at: an anonymous bad body is a 401, not a 400.
  const anonymousBadBody = { body: "{", headers: { "content-type": "application/json" } };
  await expectError(t, await api.call("POST", "/stream", anonymousBadBody), 401, 4002);
  const byId = `/stream/${UNKNOWN_ID}`;
  for (const [method, path] of [
    ["PUT", `${byId}/lock`],
    ["DELETE", byId],
    ["GET", byId],
  ]) {
    await expectError(t, await api.call(method, path, { headers: {} }), 401, 4002);
  }
  t.same(api.registry.list({}), [], "nothing was created");
});

t.test("authenticate() and role order", async (t) => {
  const auth = createAdminAuth({ apiKey: API_KEY });
  t.equal(auth.authenticate({ "X-BINTU-APIKEY": API_KEY }), "nanoAdmin", "hand-built, any case");
  t.equal(auth.authenticate({ "x-bintu-apikey": "short" }), null);
  const repeated = { "x-bintu-apikey": [API_KEY, API_KEY] as unknown as string };
  t.equal(auth.authenticate(repeated), null, "a repeated header is refused");
  t.equal(auth.authenticate({}), null);
  t.ok(hasRole("nanoAdmin", "nanoUser") && hasRole("nanoUser", "nanoReadOnly"));
  t.ok(hasRole("nanoUser", "nanoUser"));
  t.notOk(hasRole("nanoReadOnly", "nanoUser") || hasRole("nanoUser", "nanoAdmin"));
  t.throws(() => createAdminAuth({ apiKey: "" }), "an empty key would let an empty header in");
});

t.test("POST /stream creates a stream in bintu's shape", async (t) => {
  const api = await startApi(t);
  const stream = await createStream(t, api, ["a", "key1:value1"]);
  const name = stream.ingest!.rtmp.streamname;
  t.match(name, /^OrgAB-[A-Za-z0-9]{11}$/);
  t.match(stream, {
    id: /^[0-9a-f-]{36}$/,
    state: "created",
    type: "live",
    created_at: /^\d{4}-\d\d-\d\dT/,
    updated_at: /^\d{4}-\d\d-\d\dT/,
    tags: ["a", "key1:value1"],
    ingest: { rtmp: { url: URLS.rtmpIngest, streamname: name } },
  });
  t.same(stream.playout, {
    h5live: [],
    rtmp: [{ url: URLS.rtmpPlay, streamname: name, type: "live" }],
    hls: [],
    web: [],
    flv: [{ url: `http://edge.test:8000/live/${name}.flv`, type: "live" }],
  });
  t.equal(api.registry.findByName(name)?.id, stream.id, "stored");

  const bare = await api.call("POST", "/stream", { headers: { "x-bintu-apikey": API_KEY } });
  t.equal(bare.status, 200, "no body at all");
  const emptyJson = await api.call("POST", "/stream", { body: "" });
  t.equal(emptyJson.status, 200, "JSON content type with an empty body");
  t.same(((await emptyJson.json()) as BintuStreamJson).tags, []);
  const bintuFields = JSON.stringify({ tags: ["t"], webrtc: true, transcodes: [] });
  const extra = await api.call("POST", "/stream", { body: bintuFields });
  t.equal(extra.status, 200, "bintu's other create fields are accepted and ignored");
});

t.test("bad bodies answer bintu's 400 envelope and store nothing", async (t) => {
  const api = await startApi(t);
  const stream = await createStream(t, api, ["keep"]);
  const tagPath = `/stream/${stream.id}/tag`;
  const cases: [string, string, string, number][] = [
    ["POST", "/stream", JSON.stringify({ tags: "a" }), 1004],
    ["POST", "/stream", JSON.stringify({ tags: [1] }), 1004],
    ["POST", "/stream", JSON.stringify({ tags: [""] }), 1004],
    ["POST", "/stream", JSON.stringify({ tags: ["x".repeat(129)] }), 1004],
    ["POST", "/stream", JSON.stringify({ tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }), 1004],
    ["POST", "/stream", JSON.stringify([1]), 1004],
    ["POST", "/stream", "{not json", 1004],
    ["PUT", tagPath, JSON.stringify({}), 1002],
    ["PUT", tagPath, "", 1002],
    ["PUT", tagPath, JSON.stringify({ tags: "a" }), 1004],
    ["PUT", tagPath, JSON.stringify({ tags: ["ok", 2] }), 1004],
    ["PUT", tagPath, '{"tags": [', 1004],
  ];
  for (const [method, path, body, code] of cases) {
    t.comment(`${method} ${path} ${body.slice(0, 40)}`);
    await expectError(t, await api.call(method, path, { body }), 400, code);
  }
  const missing = await expectError(t, await api.call("PUT", tagPath, { body: "{}" }), 400, 1002);
  t.same(missing, { required_parameter: "tags" }, "userinfo names the parameter, as bintu's");
  const wrongType = await api.call("PUT", tagPath, { body: '{"tags":[1]}' });
  t.match(await expectError(t, wrongType, 400, 1004), { parameter: "tags/0" });
  t.equal(api.registry.list({}).length, 1, "no stream was created");
  t.same(api.registry.get(stream.id)?.tags, ["keep"], "tags unchanged");
});

t.test("fastify's own refusals (413, 415, 500) answer in bintu's envelope too", async (t) => {
  const api = await startApi(t);
  const tooLarge = await api.call("POST", "/stream", { body: JSON.stringify({ tags: ["x".repeat(1_100_000)] }) });
  t.equal(tooLarge.status, 413);
  t.same(await tooLarge.json(), { error: { message: "Wrong Data Type", code: 1004, userinfo: { reason: "request body exceeds api.bodyLimit" } } });
  const form = await api.call("POST", "/stream", {
    body: "tags=a",
    headers: { "X-BINTU-APIKEY": API_KEY, "content-type": "application/x-www-form-urlencoded" },
  });
  t.equal(form.status, 415);
  t.same(await form.json(), { error: { message: "Wrong Data Type", code: 1004, userinfo: { reason: "unsupported Content-Type; send application/json" } } });
  api.registry.close(); // the next create throws inside the route
  const failed = await api.call("POST", "/stream", { body: "{}" });
  t.equal(failed.status, 500);
  t.same(await failed.json(), { error: { message: "Internal error", code: 500, userinfo: {} } }, "no internal detail leaks");
});

t.test("GET /stream lists newest first with quantity, state, tags[] and streamname", async (t) => {
  const api = await startApi(t);
  const first = await createStream(t, api, ["a", "b"]);
  const second = await createStream(t, api, ["a"]);
  const third = await createStream(t, api, ["b"]);
  api.registry.markLive(second.ingest!.rtmp.streamname);
  const ids = async (query: string) => {
    const res = await api.call("GET", `/stream${query}`);
    t.equal(res.status, 200, query);
    return ((await res.json()) as BintuStreamJson[]).map((s) => s.id);
  };
  t.same(await ids(""), [third.id, second.id, first.id]);
  t.same(await ids("?quantity=2"), [third.id, second.id]);
  t.same(await ids("?quantity=5000"), [third.id, second.id, first.id], "over the cap: not refused");
  t.same(await ids("?state=live"), [second.id]);
  t.same(await ids("?state=created"), [third.id, first.id]);
  t.same(await ids("?tags[]=a"), [second.id, first.id]);
  t.same(await ids("?tags[]=a&tags[]=b"), [first.id]);
  t.same(await ids("?tags%5B%5D=b"), [third.id, first.id], "percent-encoded brackets");
  t.same(await ids("?tags=a&tags=b"), [first.id]);
  t.same(await ids("?tags[]=a&state=live"), [second.id]);
  t.same(await ids(`?streamname=${first.ingest!.rtmp.streamname}`), [first.id]);
  const upperCased = first.ingest!.rtmp.streamname.toUpperCase();
  t.same(await ids(`?streamname=${upperCased}`), [], "names are case-sensitive");

  await expectError(t, await api.call("GET", "/stream?quantity=abc"), 400, 1004);
  await expectError(t, await api.call("GET", "/stream?quantity=0"), 400, 1004);
  await expectError(t, await api.call("GET", "/stream?state=sleeping"), 400, 1004);
});

t.test("GET /stream/:id, and ?profile=player without auth and without ingest", async (t) => {
  const api = await startApi(t);
  const stream = await createStream(t, api, ["x"]);
  const name = stream.ingest!.rtmp.streamname;

  const res = await api.call("GET", `/stream/${stream.id}`);
  t.equal(res.status, 200);
  t.same(await res.json(), stream);
  const upperCased = await api.call("GET", `/stream/${stream.id.toUpperCase()}`);
  t.equal(upperCased.status, 200, "UUIDs are case-insensitive");
  await expectError(t, await api.call("GET", `/stream/${stream.id}`, { headers: {} }), 401, 4002);

  const playerView = async () => {
    const res = await api.call("GET", `/stream/${stream.id}?profile=player`, { headers: {} });
    t.equal(res.status, 200);
    return (await res.json()) as BintuStreamJson;
  };
  const offline = await playerView();
  t.notOk("ingest" in offline, "the publish side is not shown to players");
  t.same(offline.playout, { h5live: [], rtmp: [], hls: [], web: [], flv: [] }, "no playout while not live");

  api.registry.markLive(name);
  const live = await playerView();
  t.equal(live.state, "live");
  t.notOk("ingest" in live);
  t.same(live.playout.flv, [{ url: `http://edge.test:8000/live/${name}.flv`, type: "live" }]);

  const unknown = await api.call("GET", `/stream/${UNKNOWN_ID}?profile=player`, { headers: {} });
  await expectError(t, unknown, 404, 3004);
});

t.test("PUT /stream/:id/tag replaces all tags", async (t) => {
  const api = await startApi(t);
  const stream = await createStream(t, api, ["old", "older"]);
  const body = JSON.stringify({ tags: ["new", "k:v"] });
  const res = await api.call("PUT", `/stream/${stream.id}/tag`, { body });
  t.equal(res.status, 200);
  t.match(await res.json(), { id: stream.id, tags: ["new", "k:v"] });
  t.same(api.registry.get(stream.id)?.tags, ["new", "k:v"]);
  const cleared = await api.call("PUT", `/stream/${stream.id}/tag`, { body: JSON.stringify({ tags: [] }) });
  t.same(((await cleared.json()) as BintuStreamJson).tags, []);
});

t.test("lock, unlock and delete", async (t) => {
  const api = await startApi(t);
  const stream = await createStream(t, api);
  const name = stream.ingest!.rtmp.streamname;
  api.registry.markLive(name);

  const locked = await api.call("PUT", `/stream/${stream.id}/lock`);
  t.equal(locked.status, 200);
  t.equal(((await locked.json()) as BintuStreamJson).state, "locked");
  t.equal(api.registry.markLive(name)?.state, "locked", "a locked stream cannot go live");

  const unlocked = await api.call("PUT", `/stream/${stream.id}/unlock`);
  t.equal(((await unlocked.json()) as BintuStreamJson).state, "ended", "it was live once");

  const deleted = await api.call("DELETE", `/stream/${stream.id}`);
  t.equal(deleted.status, 200);
  t.same(await deleted.json(), { id: stream.id, state: "deleted" });

  await expectError(t, await api.call("GET", `/stream/${stream.id}`), 404, 3004);
  const playerView = await api.call("GET", `/stream/${stream.id}?profile=player`, { headers: {} });
  await expectError(t, playerView, 404, 3004);
  await expectError(t, await api.call("DELETE", `/stream/${stream.id}`), 404, 3004);
  await expectError(t, await api.call("PUT", `/stream/${stream.id}/unlock`), 404, 3004);
  await expectError(t, await api.call("PUT", `/stream/${stream.id}/tag`, { body: '{"tags":[]}' }), 404, 3004);
  const list = (await (await api.call("GET", "/stream")).json()) as unknown[];
  t.same(list, [], "deleted streams leave the list");
});

t.test("unknown and malformed ids are 404 with the envelope", async (t) => {
  const api = await startApi(t);
  for (const id of [UNKNOWN_ID, "not-a-uuid", "1", "%27%20OR%201%3D1"]) {
    await expectError(t, await api.call("GET", `/stream/${id}`), 404, 3004);
    await expectError(t, await api.call("PUT", `/stream/${id}/lock`), 404, 3004);
    await expectError(t, await api.call("PUT", `/stream/${id}/tag`, { body: '{"tags":["a"]}' }), 404, 3004);
    await expectError(t, await api.call("DELETE", `/stream/${id}`), 404, 3004);
  }
});
