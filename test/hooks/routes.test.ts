// /v1/hooks/srs, /v1/hooks/mediamtx, /v1/hooks/ome (and nginx-rtmp's corner cases) over HTTP against
// a real edge, with payloads copied field for field from the servers' sources (docs/hooks.md §2-§4):
// the exact status and bytes each server needs, and a clear 4xx — never a 5xx, never an allow —
// for anything malformed, mistyped, oversized or unknown.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import t from "tap";
import { omeSignature } from "../../src/hooks/ome.js";
import { startEdge, type TestEdge } from "../helpers/edge.js";
import { waitFor } from "../helpers/wait.js";

const SECRET = "ome-secret";

interface Answer {
  status: number;
  type: string | null;
  body: string;
}

async function hook(
  edge: TestEdge,
  path: string,
  body: string,
  opts: { type?: string; headers?: Record<string, string>; method?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.type !== "") headers["content-type"] = opts.type ?? "application/json";
  const res = await fetch(`http://127.0.0.1:${edge.addresses.api.port}${path}`, {
    method: opts.method ?? "POST",
    headers,
    body: opts.method === "GET" ? undefined : body,
  });
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

async function issue(edge: TestEdge, body: object): Promise<string> {
  const res = await edge.api("/api/v1/splay", { method: "POST", json: { exp: Math.floor(Date.now() / 1000) + 600, ...body } });
  return ((await res.json()) as { data: { token: string } }).data.token;
}

const JSON_UTF8 = "application/json; charset=utf-8";
const code = (a: Answer) => (JSON.parse(a.body) as { code: unknown; error?: string }).error ?? (JSON.parse(a.body) as { code: string }).code;

t.test('SRS: {"code":0} allows, a non-zero code with a non-2xx status refuses', async (t) => {
  const edge = await startEdge(t, { EDGE_AUTH_PLAYBACK_REQUIRED: "true", EDGE_HOOKS_SECRET: SECRET });
  const { name } = await edge.createStream();
  const token = await issue(edge, { streams: [name] });
  const srs = (o: object) => hook(edge, `/v1/hooks/srs?secret=${SECRET}`, JSON.stringify(o));
  // trunk/src/app/srs_app_http_hooks.cpp l.117-242, full.conf example param.
  const base = {
    server_id: "vid-0xk989d",
    service_id: "plw1m5e8",
    client_id: "341w361a",
    ip: "203.0.113.7",
    vhost: "__defaultVhost__",
    app: "live",
    tcUrl: "rtmp://127.0.0.1:1935/live",
    stream: name,
    param: "?token=xxx&salt=yyy",
    stream_url: `/live/${name}`,
    stream_id: "vid-124q9y3",
  };
  const published = await srs({ ...base, action: "on_publish" });
  t.same(published, { status: 200, type: JSON_UTF8, body: '{"code":0}' }, 'on_publish of a known key: 200 and exactly {"code":0}');
  const sessions = (await (await edge.api("/v1/sessions")).json()) as { server: string; role: string; protocol: string }[];
  t.match(sessions, [{ server: "srs", role: "publisher", protocol: "rtmp" }], "the publisher on SRS is listed with its server");

  const unknown = await srs({ ...base, stream: "NoSuch-Stream1", action: "on_publish" });
  t.equal(unknown.status, 403);
  t.same(JSON.parse(unknown.body), { code: 403, error: "EDGE_ERR_STREAM_UNKNOWN", reason: "no such stream" }, "a non-zero integer code SRS fails on");

  const play = (param: string) => srs({ ...base, action: "on_play", client_id: "9x1", pageUrl: "", param });
  t.equal(code(await play("?salt=yyy")), "EDGE_ERR_TOKEN_MISSING", "a play without a token");
  t.same(await play(`?jwtoken=${token}&salt=yyy#frag`), { status: 200, type: JSON_UTF8, body: '{"code":0}' }, "param with its leading ? and a #fragment");
  t.same(await srs({ ...base, action: "on_stop", client_id: "9x1" }), { status: 200, type: JSON_UTF8, body: '{"code":0}' }, "on_stop ends the play");
  t.same(await srs({ ...base, action: "on_unpublish" }), { status: 200, type: JSON_UTF8, body: '{"code":0}' }, "on_unpublish ends the publish");
  t.same(await (await edge.api("/v1/sessions")).json(), [], "no session left");
  for (const action of ["on_connect", "on_close", "on_dvr", "on_hls"]) {
    t.equal((await srs({ ...base, action })).body, '{"code":0}', `${action} passes`);
  }
  const forward = await srs({ ...base, action: "on_forward" });
  t.equal(forward.status, 400, "an action the edge does not know: 400");
  t.equal((JSON.parse(forward.body) as { code: number }).code, 400, "with a non-zero code");
});

t.test("MediaMTX: 2xx allows; 401 asks for credentials only when none came; api/metrics/pprof refused", async (t) => {
  const edge = await startEdge(t, { EDGE_AUTH_PLAYBACK_REQUIRED: "true", EDGE_HOOKS_SECRET: SECRET });
  const { name } = await edge.createStream();
  const token = await issue(edge, { streams: [name] });
  const mtx = (o: object) => hook(edge, "/v1/hooks/mediamtx", JSON.stringify(o), { headers: { authorization: `Bearer ${SECRET}` } });
  // internal/auth/manager.go l.192-247; query as in internal/servers/rtmp/server_test.go l.311.
  const base = {
    user: "",
    password: "",
    token: "",
    ip: "203.0.113.7",
    path: `live/${name}`,
    protocol: "rtsp",
    id: "6c4a5e1f-3b7b-4d35-9a4c-0e8e0f3d9b11",
    query: "",
    userAgent: "ffmpeg",
  };
  t.same(await mtx({ ...base, action: "publish" }), { status: 204, type: null, body: "" }, "publish of a known key (path APP/NAME)");
  t.same(await mtx({ ...base, action: "publish", path: name }), { status: 204, type: null, body: "" }, "a bare NAME is in app live");
  t.same(await (await edge.api("/v1/sessions")).json(), [], "MediaMTX sends no end notice: decided, not kept");
  const noCreds = await mtx({ ...base, action: "read" });
  t.equal(noCreds.status, 401, "a read with no credential at all: 401, so RTSP/HLS/WebRTC clients retry with one");
  t.equal(code(noCreds), "EDGE_ERR_TOKEN_MISSING");
  const withUser = await mtx({ ...base, action: "read", user: "viewer", password: "pw" });
  t.equal(withUser.status, 403, "credentials that carry no token: 403, asking again would not help");
  t.equal((await mtx({ ...base, action: "read", token })).status, 204, "the token field");
  t.equal((await mtx({ ...base, action: "playback", protocol: "hls", query: `jwtoken=${token}&x=1` })).status, 204, "else jwtoken of the query");
  const bad = await mtx({ ...base, action: "read", token: "not-a-token", query: `jwtoken=${token}` });
  t.equal(bad.status, 403, "the token field wins over the query");
  t.equal(code(bad), "EDGE_ERR_TOKEN_INVALID");
  for (const action of ["api", "metrics", "pprof"]) {
    const refused = await mtx({ ...base, action, path: "", id: null });
    t.equal(refused.status, 403, `${action}: refused`);
    t.equal(code(refused), "EDGE_ERR_HOOK_ACTION");
  }
  t.equal((await mtx({ ...base, action: "publish", path: "live/NoSuch-Stream1" })).status, 403, "an unknown key");
});

t.test("OvenMediaEngine: signature over the raw body, opening/closing answers, mixed-case protocol", async (t) => {
  // base_64.cpp l.18-50: base64url without padding. Vectors computed with
  // `openssl dgst -sha1 -hmac KEY -binary | base64`, then + → -, / → _ and = removed.
  t.equal(omeSignature("ome-secret", '{"n":2}'), "Zja5z2we2Qs-BVsDr-Pqe93FXLo", "url-safe alphabet");
  t.equal(omeSignature("key", "abc"), "T9CyFSdu8S8rPkyOysKBFJi2Vvw", "no = padding");

  const edge = await startEdge(t, { EDGE_AUTH_PLAYBACK_REQUIRED: "true", EDGE_HOOKS_SECRET: SECRET });
  const { name } = await edge.createStream();
  const exp = Math.floor(Date.now() / 1000) + 600;
  const token = await issue(edge, { streams: [name], exp });
  const ome = (o: object, sign = true) => {
    const raw = JSON.stringify(o);
    return hook(edge, "/v1/hooks/ome", raw, { headers: sign ? { "x-ome-signature": omeSignature(SECRET, raw) } : {} });
  };
  // OME admission_webhooks.cpp MakeMessageBody l.76-162 (docs/hooks.md §4.1).
  const client = { address: "211.233.58.86", port: 29291, real_ip: "211.233.58.86", user_agent: "Mozilla/5.0" };
  const request = (direction: string, protocol: string, status: string, url: string) => ({
    direction,
    protocol,
    status,
    url,
    time: "2021-05-12T13:45:00.000Z",
  });

  const publish = await ome({ client, request: request("incoming", "RTMP", "opening", `rtmp://host:1935/live/${name}`) });
  t.same(publish, { status: 200, type: JSON_UTF8, body: '{"allowed":true,"reason":"ok"}' }, "publish, protocol RTMP in upper case");
  t.match(await (await edge.api("/v1/sessions")).json(), [{ server: "ome", role: "publisher", protocol: "rtmp" }]);
  const closing = await ome({ client, request: request("incoming", "RTMP", "closing", `rtmp://host:1935/live/${name}`) });
  t.same(closing, { status: 200, type: JSON_UTF8, body: "{}" }, "closing: 200 {} at once");
  t.same(await (await edge.api("/v1/sessions")).json(), [], "and the session ended");

  const player = { ...client, port: 40000 };
  const play = await ome({ client: player, request: request("outgoing", "WebRTC", "opening", `ws://host:3333/live/${name}?jwtoken=${token}`) });
  t.equal(play.status, 200);
  const answer = JSON.parse(play.body) as { allowed: boolean; reason: string; lifetime: number };
  t.equal(answer.allowed, true, "a WebRTC play with its token");
  t.ok(Number.isInteger(answer.lifetime) && answer.lifetime > 590_000 && answer.lifetime <= 600_000, `lifetime ${answer.lifetime} ms until the token's exp`);
  const srtUrl = `srt://host:9999?streamid=${encodeURIComponent(`srt://host:9999/live/${name}?jwtoken=${token}`)}`;
  const srt = await ome({ client: { ...client, port: 40001 }, request: request("outgoing", "SRT", "opening", srtUrl) });
  t.equal((JSON.parse(srt.body) as { allowed: boolean }).allowed, true, "SRT: the stream and token inside the URL-encoded streamid");
  t.equal((await ome({ client: { ...client, port: 40001 }, request: request("outgoing", "SRT", "closing", srtUrl) })).body, "{}");
  const badEscape = await ome({ client, request: request("incoming", "RTMP", "opening", "rtmp://host:1935/live/%E0%A4%A") });
  t.same(JSON.parse(badEscape.body), { allowed: false, reason: "EDGE_ERR_BAD_NAME: invalid stream name" }, "a broken escape is a bad name, not a 5xx");
  const llhls = await ome({ client: player, request: request("outgoing", "LLHLS", "opening", `https://host:3334/live/${name}/llhls.m3u8`) });
  t.same(JSON.parse(llhls.body), { allowed: false, reason: "EDGE_ERR_TOKEN_MISSING: playback token required" }, "a refusal is 200 with allowed:false");
  t.equal(llhls.status, 200);
  t.same((await ome({ client: player, request: request("outgoing", "WebRTC", "closing", `ws://host:3333/live/${name}`) })).body, "{}", "the player closes");
  t.same(await (await edge.api("/v1/sessions")).json(), [], "no session left");

  const forged = await ome({ client, request: request("incoming", "RTMP", "opening", `rtmp://host:1935/live/${name}`) }, false);
  t.equal(forged.status, 401, "no signature: 401, which OME reads as a refusal");
  const raw = JSON.stringify({ client, request: request("incoming", "RTMP", "opening", `rtmp://host:1935/live/${name}`) });
  const tampered = await hook(edge, "/v1/hooks/ome", raw.replace("211.233.58.86", "211.233.58.87"), {
    headers: { "x-ome-signature": omeSignature(SECRET, raw) },
  });
  t.equal(tampered.status, 401, "a body changed after signing");
  t.same(await (await edge.api("/v1/sessions")).json(), [], "nothing was decided for either");
  const odd = await ome({ client, request: { ...request("sideways", "RTMP", "opening", "rtmp://h/live/x") } });
  t.equal(odd.status, 400, "an unknown direction: 400");
});

t.test("every hook: malformed, wrong content type, oversized, unknown call: a 4xx, never a 5xx, never an allow", async (t) => {
  const edge = await startEdge(t, { EDGE_HOOKS_SECRET: SECRET, EDGE_API_BODY_LIMIT: "4096" });
  const auth = { authorization: `Bearer ${SECRET}` };
  const cases: [string, string, string, number][] = [
    ["/v1/hooks/srs", "{not json", "application/json", 400],
    ["/v1/hooks/srs", "[1,2]", "application/json", 400],
    ["/v1/hooks/srs", '{"action":"on_publish","server_id":"s","client_id":"c","app":"live","stream":7}', "application/json", 400],
    ["/v1/hooks/srs", '{"action":"on_publish"}', "text/plain", 415],
    ["/v1/hooks/mediamtx", "null", "application/json", 400],
    ["/v1/hooks/mediamtx", '{"action":"publish","path":"live/../../etc","ip":"1.2.3.4","query":""}', "application/json", 403], // EDGE_ERR_BAD_NAME: MediaMTX knows only 2xx or not
    ["/v1/hooks/mediamtx", '{"action":"teleport","path":"x","ip":"1.2.3.4","query":""}', "application/json", 400],
    ["/v1/hooks/mediamtx", "action=publish", "application/x-www-form-urlencoded", 415],
    ["/v1/hooks/ome", '{"client":1}', "application/json", 401], // unsigned: refused before parsing
    ["/v1/hooks/nginx-rtmp", "app=live&name=x", "application/x-www-form-urlencoded", 400],
    ["/v1/hooks/nginx-rtmp", "app=live&call=teleport&clientid=1", "application/x-www-form-urlencoded", 400],
    ["/v1/hooks/nginx-rtmp", '{"call":"publish"}', "application/json", 415],
    ["/v1/hooks/nginx-rtmp", `app=live&call=publish&clientid=1&name=${"x".repeat(5000)}`, "application/x-www-form-urlencoded", 413],
    ["/v1/hooks/srs", JSON.stringify({ action: "on_publish", pad: "x".repeat(5000) }), "application/json", 413],
  ];
  for (const [path, body, type, status] of cases) {
    const a = await hook(edge, path, body, { type, headers: auth });
    t.equal(a.status, status, `${path} ${type} ${body.slice(0, 60)}: ${status}`);
  }
  const empty = await hook(edge, "/v1/hooks/srs", "", { type: "", headers: auth });
  t.ok(empty.status >= 400 && empty.status < 500, `no body and no content type: ${empty.status}`);
  t.equal((await hook(edge, "/v1/hooks/nope", "{}", { headers: auth })).status, 404, "an unknown server");
});

t.test("nginx-rtmp: the first server field wins over injected args; GET mode keeps the hook URL's own query", async (t) => {
  const edge = await startEdge(t, { EDGE_HOOKS_SECRET: SECRET });
  const { name } = await edge.createStream();
  await edge.api("/guardian/ip", { method: "POST", json: { ip: "203.0.113.0/24", type: "deny", tag: "t" } });
  const form = (fields: string) => hook(edge, `/v1/hooks/nginx-rtmp?secret=${SECRET}`, fields, { type: "application/x-www-form-urlencoded" });
  const prefix = (addr: string) =>
    `app=live&flashver=LNX%209%2C0%2C124%2C2&swfurl=&tcurl=rtmp%3A%2F%2F127.0.0.1%3A1935%2Flive&pageurl=&addr=${addr}&clientid=7`;
  t.equal((await form(`${prefix("203.0.113.9")}&call=play&name=${name}&start=-2000&duration=0&reset=0`)).status, 403, "a banned address");
  const injected = await form(`${prefix("203.0.113.9")}&call=play&name=${name}&start=-2000&duration=0&reset=0&addr=198.51.100.1&name=Other&call=connect`);
  t.equal(injected.status, 403, "args repeating addr, name and call change nothing");
  t.equal((await form(`${prefix("198.51.100.1")}&call=play&name=${name}&start=-2000&duration=0&reset=0`)).status, 204, "another address plays");
  t.equal((await form(`${prefix("198.51.100.1")}&call=play_done&name=${name}`)).status, 204);
  const get = await hook(edge, `/v1/hooks/nginx-rtmp?secret=${SECRET}?${prefix("198.51.100.1")}&call=publish&name=${name}&type=live`, "", {
    method: "GET",
    type: "",
  });
  t.equal(get.status, 204, "GET: `?secret=S?app=…` as nginx writes it");
  t.equal(get.body, "");
  const wrong = await hook(edge, `/v1/hooks/nginx-rtmp?secret=nope?${prefix("198.51.100.1")}&call=publish&name=${name}&type=live`, "", {
    method: "GET",
    type: "",
  });
  t.equal(wrong.status, 401, "a wrong secret");
  const relay = await form("app=live&flashver=ngx-local-relay&swfurl=&tcurl=&pageurl=&addr=unix%3A%2Ftmp%2Fnginx-rtmp.1&clientid=9&call=play&name=anything");
  t.equal(relay.status, 204, "a local relay passes");
});

t.test("hooks.allowFrom and hooks.secret: anyone else gets 403 / 401 and nothing is decided", async (t) => {
  const fenced = await startEdge(t, { EDGE_HOOKS_ALLOW_FROM: "10.0.0.0/8, 192.168.0.0/16" });
  const { name } = await fenced.createStream();
  const srs = JSON.stringify({
    action: "on_publish",
    server_id: "s",
    client_id: "c",
    ip: "1.2.3.4",
    app: "live",
    stream: name,
    param: "",
    tcUrl: "rtmp://x/live",
  });
  const outside = await hook(fenced, "/v1/hooks/srs", srs);
  t.equal(outside.status, 403, "127.0.0.1 is not in hooks.allowFrom");
  t.equal(code(outside), "EDGE_ERR_HOOK_CALLER");
  const huge = await hook(fenced, "/v1/hooks/srs", "x".repeat(200_000));
  t.equal(huge.status, 403, "refused before the body is read, whatever its size");
  await fenced.edge.close(); // one in-process edge at a time (NMS keeps process-global state)

  const locked = await startEdge(t, { EDGE_HOOKS_SECRET: SECRET });
  const other = await locked.createStream();
  const body = srs.replace(name, other.name);
  for (const [what, headers, path] of [
    ["no secret", {}, "/v1/hooks/srs"],
    ["a wrong secret", {}, "/v1/hooks/srs?secret=guess"],
    ["a wrong bearer", { authorization: "Bearer guess" }, "/v1/hooks/srs"],
    ["basic auth", { authorization: `Basic ${Buffer.from(`x:${SECRET}`).toString("base64")}` }, "/v1/hooks/srs"],
  ] as const) {
    const a = await hook(locked, path, body, { headers });
    t.equal(a.status, 401, what);
    t.equal(code(a), "EDGE_ERR_HOOK_SECRET");
  }
  t.same(await (await locked.api("/v1/sessions")).json(), [], "nothing was decided");
  const metrics = await (await locked.api("/metrics")).text();
  t.notMatch(metrics, /protocol="hook"/, "no hook decision was counted");
  t.equal((await hook(locked, `/v1/hooks/srs?secret=${SECRET}`, body)).body, '{"code":0}', "with the secret in the query");
  t.equal(
    (await hook(locked, "/v1/hooks/srs", body.replace('"c"', '"d"'), { headers: { authorization: `Bearer ${SECRET}` } })).body,
    '{"code":0}',
    "or as a bearer",
  );
});

t.test("a publish through a hook is a publish: the organisation webhook is asked and told of its end", async (t) => {
  const calls: URLSearchParams[] = [];
  let verdict = 200;
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      calls.push(new URLSearchParams(body));
      res.writeHead(verdict).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  t.teardown(() => receiver.close());
  const edge = await startEdge(t, { EDGE_INGEST_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` });
  const { name } = await edge.createStream();
  const srs = (o: object) => hook(edge, "/v1/hooks/srs", JSON.stringify(o));
  const base = {
    server_id: "s1",
    client_id: "c1",
    ip: "203.0.113.7",
    vhost: "__defaultVhost__",
    app: "live",
    tcUrl: "rtmp://srs/live",
    stream: name,
    param: "?room=5",
  };
  t.equal((await srs({ ...base, action: "on_publish" })).body, '{"code":0}');
  t.match(
    Object.fromEntries(calls[0]),
    { call: "publish", name, app: "live", addr: "203.0.113.7", clientid: "c1", room: "5" },
    "publish asked, with the client's args",
  );
  t.equal((await srs({ ...base, action: "on_unpublish" })).body, '{"code":0}');
  await waitFor("publish_done", () => calls.some((c) => c.get("call") === "publish_done"));
  verdict = 403;
  const refused = await srs({ ...base, client_id: "c2", action: "on_publish" });
  t.equal(refused.status, 403, "the webhook's refusal is the hook's");
  t.equal(code(refused), "EDGE_ERR_WEBHOOK_DENIED");
});

t.test("POST /v1/tokens/handle: a short handle for a valid token only; the same token, the same handle", async (t) => {
  const edge = await startEdge(t, { EDGE_AUTH_PLAYBACK_REQUIRED: "true" });
  const { name } = await edge.createStream();
  const token = await issue(edge, { streams: [name], revocable: true });
  const ask = (body: string) => hook(edge, "/v1/tokens/handle", body);
  const first = await ask(JSON.stringify({ token }));
  t.equal(first.status, 200);
  const { handle, expiresAt } = JSON.parse(first.body) as { handle: string; expiresAt: string };
  t.match(handle, /^h[A-Za-z0-9_-]{21}$/, "22 characters, URL-safe");
  t.ok(Date.parse(expiresAt) > Date.now(), "expires with its token");
  t.equal((JSON.parse((await ask(JSON.stringify({ token }))).body) as { handle: string }).handle, handle, "deterministic");
  t.equal(code(await ask(JSON.stringify({ token: token.slice(0, -3) + "xyz" }))), "EDGE_ERR_TOKEN_INVALID", "a forged token gets none");
  t.equal((await ask("{}")).status, 400, "no token: 400");
  t.equal((await edge.api("/api/v1/splay/revoke", { method: "POST", json: { token } })).status, 204);
  t.equal(code(await ask(JSON.stringify({ token }))), "EDGE_ERR_TOKEN_REVOKED", "a revoked token gets none");
  const mtx = JSON.stringify({
    user: "",
    password: "",
    token: "",
    ip: "203.0.113.7",
    action: "read",
    path: name,
    protocol: "rtmp",
    id: "x",
    query: `jwh=${handle}`,
  });
  t.equal(code(await hook(edge, "/v1/hooks/mediamtx", mtx)), "EDGE_ERR_TOKEN_REVOKED", "and a handle issued before still stands for the revoked token");
});
