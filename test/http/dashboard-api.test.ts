// The dashboard's server side (issue 16): its files under /dashboard/ within the initial-script
// budget, people's keys with roles that the API enforces, and live updates that are authenticated,
// bounded per key and closed when the key is revoked. On a real edge; the browser test is
// test/http/dashboard.test.ts.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import t from "tap";
import { PeopleKeys } from "../../src/http/people-keys.js";
import { startEdge, type TestEdge } from "../helpers/edge.js";

const BUILT = fileURLToPath(new URL("../../dist/dashboard/", import.meta.url));

async function personKey(edge: TestEdge, role: string, label = role): Promise<{ id: string; key: string }> {
  const res = await edge.api("/v1/keys", { method: "POST", json: { role, label } });
  if (res.status !== 201) throw new Error(`POST /v1/keys: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; key: string };
}

/** Reads server-sent events from a live-update stream until `until` says stop. */
async function readEvents(res: Response, until: (events: { event: string; data: unknown }[]) => boolean): Promise<{ event: string; data: unknown }[]> {
  const events: { event: string; data: unknown }[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  while (!until(events)) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      events.push({ event: /^event: (.*)$/m.exec(block)?.[1] ?? "", data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null") });
    }
  }
  return events;
}

t.test("the built dashboard is served from /dashboard/ with its initial script under 150 KB gzip", async (t) => {
  const edge = await startEdge(t);
  const page = await edge.api("/dashboard/", { key: null });
  t.equal(page.status, 200);
  t.match(page.headers.get("content-type"), /^text\/html/);
  const csp = page.headers.get("content-security-policy") ?? "";
  t.match(csp, /script-src 'self';/, "no script from another host");
  t.match(csp, `connect-src 'self' http://localhost:${edge.addresses.playback.port};`, "fetches only from here and the playback port");
  const html = await page.text();
  const entry = /<script type="module" src="([^"]+)"/.exec(html)?.[1];
  t.ok(entry, "the page names its script");
  t.notMatch(html, /https?:\/\//, "nothing fetched from another host");

  t.same(await (await edge.api("/v1/edges")).json(), [], "no routing table, no edges");
  t.same(await (await edge.api("/v1/samples?stream=nope")).json(), { intervalMs: 5000, samples: [] });
  t.equal((await edge.api("/v1/samples")).status, 400);

  const redirect = await edge.api("/dashboard", { key: null, redirect: "manual" });
  t.equal(redirect.status, 302);
  t.equal(redirect.headers.get("location"), "/dashboard/");
  const missing = await edge.api("/dashboard/nope.js", { key: null });
  t.equal(missing.status, 404);
  t.same(await missing.json(), { code: "EDGE_ERR_NOT_FOUND", reason: "no such resource" });

  // Initial JavaScript = the entry and the chunks it imports statically; the player chunk is
  // reached only through a dynamic import().
  const initial = new Set<string>();
  const visit = (name: string) => {
    if (initial.has(name)) return;
    initial.add(name);
    const code = readFileSync(join(BUILT, name), "utf8");
    for (const m of code.matchAll(/(?:import|from)\s*"\.\/([\w-]+\.js)"/g)) visit(m[1]);
  };
  visit(entry as string);
  const gzip = [...initial].reduce((sum, name) => sum + gzipSync(readFileSync(join(BUILT, name))).length, 0);
  t.ok(gzip <= 150 * 1024, `initial JS ${gzip} B gzip ≤ 150 KB`);
  const all = readdirSync(BUILT).filter((n) => n.endsWith(".js"));
  const player = all.filter((n) => readFileSync(join(BUILT, n), "utf8").includes("MSEPlayer"));
  t.equal(player.length, 1, "mpegts.js is in one chunk");
  t.notOk(initial.has(player[0]), "and that chunk is not part of the initial script");
  for (const name of initial) {
    const res = await edge.api(`/dashboard/${name}`, { key: null });
    t.equal(res.status, 200, `${name} served`);
    t.match(res.headers.get("content-type"), /^text\/javascript/);
  }
});

t.test("people's keys: made by the admin, shown once, stored hashed, roles enforced by the API, revocable", async (t) => {
  const edge = await startEdge(t);
  const stream = await edge.createStream();
  const reader = await personKey(edge, "nanoReadOnly", "Ana");
  const user = await personKey(edge, "nanoUser", "Bo");
  t.match(reader.key, /^bek_[\w-]{32}$/);

  const listed = (await (await edge.api("/v1/keys")).json()) as Record<string, unknown>[];
  t.same(listed.map((k) => [k.label, k.role]).sort(), [
    ["Ana", "nanoReadOnly"],
    ["Bo", "nanoUser"],
  ]);
  t.notMatch(JSON.stringify(listed), reader.key, "the list never shows a key");
  const stored = readFileSync(join(edge.config.dataDir, "people-keys.json"), "utf8");
  t.notMatch(stored, reader.key.slice(4), "the data dir holds hashes, not keys");

  const info = (await (await edge.api("/v1/dashboard/info", { key: reader.key })).json()) as { role: string; keyId: string };
  t.same([info.role, info.keyId], ["nanoReadOnly", reader.id]);
  t.equal(((await (await edge.api("/v1/dashboard/info")).json()) as { role: string }).role, "nanoAdmin", "the org key stays admin");

  // Read-only: reads everything, every write refused by the API itself.
  t.equal((await edge.api("/stream", { key: reader.key })).status, 200);
  t.equal((await edge.api("/v1/sessions", { key: reader.key })).status, 200);
  t.equal((await edge.api("/guardian", { key: reader.key })).status, 200);
  t.equal((await edge.api("/stream", { key: reader.key, method: "POST", json: {} })).status, 403);
  t.equal((await edge.api(`/stream/${stream.id}/lock`, { key: reader.key, method: "PUT" })).status, 403);
  t.equal((await edge.api("/guardian/ip", { key: reader.key, method: "POST", json: { ip: "192.0.2.1", type: "deny" } })).status, 403);
  const exp = Math.floor(Date.now() / 1000) + 60;
  t.equal((await edge.api("/api/v1/splay", { key: reader.key, method: "POST", json: { orgawide: true, exp } })).status, 403);
  t.equal((await edge.api("/v1/sessions/x", { key: reader.key, method: "DELETE" })).status, 403);
  // A user creates but does not lock, kick or hand out keys (bintu's nanoUser).
  t.equal((await edge.api("/stream", { key: user.key, method: "POST", json: {} })).status, 200);
  t.equal((await edge.api(`/stream/${stream.id}/lock`, { key: user.key, method: "PUT" })).status, 403);
  t.equal((await edge.api("/v1/keys", { key: user.key, method: "POST", json: { role: "nanoUser", label: "x" } })).status, 403);
  t.equal((await edge.api("/v1/keys", { key: user.key })).status, 403);

  const admin = await edge.api("/v1/keys", { method: "POST", json: { role: "nanoAdmin", label: "x" } });
  t.equal(admin.status, 400, "no person's key is an admin key");
  t.equal((await edge.api("/v1/keys", { method: "POST", json: { role: "nanoUser", label: "" } })).status, 400);

  t.equal((await edge.api(`/v1/keys/${reader.id}`, { method: "DELETE" })).status, 204);
  t.equal((await edge.api("/stream", { key: reader.key })).status, 401, "a revoked key is refused at once");
  t.equal((await edge.api(`/v1/keys/${reader.id}`, { method: "DELETE" })).status, 404);
});

t.test("the edge table: region, drain and health of each routed edge", async (t) => {
  const edges = [
    { id: "eu-1", region: "eu", lat: 50.1, lon: 8.7, urls: { flv: "http://eu-1.example/" }, drain: true },
    { id: "us-1", region: "us", lat: 40.7, lon: -74, urls: { flv: "http://us-1.example/" } },
  ];
  const edge = await startEdge(t, { EDGE_ROUTING_EDGES: JSON.stringify(edges) });
  const res = await edge.api("/v1/edges");
  t.equal(res.status, 200);
  const body = (await res.json()) as { id: string; region: string; drain: boolean; up: boolean | null }[];
  t.same(
    body.map((e) => [e.id, e.region, e.drain]),
    [
      ["eu-1", "eu", true],
      ["us-1", "us", false],
    ],
  );
  // No api URL to probe: the health checker counts such edges up (routing.edges[].api).
  t.same(
    body.map((e) => e.up),
    [true, true],
  );
});

t.test("people's keys survive a restart of the store", async (t) => {
  const dir = t.testdir();
  const made = PeopleKeys.open(dir).create("nanoUser", "Cy");
  t.ok(made);
  const reopened = PeopleKeys.open(dir);
  t.same(reopened.lookup(made!.key), { id: made!.id, role: "nanoUser" });
  t.equal(reopened.lookup(made!.key + "x"), null);
});

t.test("live updates: authenticated, bounded per key, closed when the key is revoked", async (t) => {
  const edge = await startEdge(t);
  await edge.createStream(["live"]);
  t.equal((await edge.api("/v1/events", { key: "wrong" })).status, 401);

  const reader = await personKey(edge, "nanoReadOnly");
  const aborts: AbortController[] = [];
  t.teardown(() => aborts.forEach((a) => a.abort()));
  const open = () => {
    const a = new AbortController();
    aborts.push(a);
    return edge.api("/v1/events", { key: reader.key, signal: a.signal });
  };
  const first = await open();
  t.equal(first.status, 200);
  t.match(first.headers.get("content-type"), /^text\/event-stream/);
  for (let i = 0; i < 3; i++) t.equal((await open()).status, 200);
  const fifth = await open();
  t.equal(fifth.status, 429, "a fifth stream for one key is refused");
  t.same(await fifth.json(), { code: "EDGE_ERR_TOO_MANY_EVENT_STREAMS", reason: "too many live-update streams for this API key or edge" });
  t.equal((await edge.api("/v1/events")).status, 200, "another key has its own allowance");

  const events = readEvents(first, (e) => e.some((x) => x.event === "end"));
  await new Promise((r) => setTimeout(r, 200));
  t.equal((await edge.api(`/v1/keys/${reader.id}`, { method: "DELETE" })).status, 204);
  const got = await events;
  const snapshot = got.find((e) => e.event === "snapshot")?.data as { sessions: unknown[]; streams: { state: string }[] };
  t.ok(snapshot, "a snapshot came first");
  t.same(snapshot.sessions, []);
  t.same(
    snapshot.streams.map((s) => s.state),
    ["created"],
  );
  t.same(got.at(-1), { event: "end", data: { reason: "revoked" } }, "the stream ends when its key is revoked");
});
