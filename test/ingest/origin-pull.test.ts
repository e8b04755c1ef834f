// Origin pull between edges (issue 13) with real processes: a real redis-server, edge R in this
// process (the embedded registry every edge validates keys against, and the edge the publisher
// moves to), edges A and B as child processes, ffmpeg as the encoder, ffprobe and plain HTTP
// readers as players. A stream published on A plays on B over HTTP-FLV and RTMP; 50 players at
// once on a cold stream make exactly one relay session on A; the pull lingers, then ends; a viewer
// the Guardian refuses on B starts no pull; A refuses forged, expired and foreign pulls; a
// revocation ends a pulled viewer; the publisher moving from A to R leaves B's viewers reading;
// kill -9 of A ends them within the deadlines.
import t from "tap";
import { loadKeySet } from "../../src/auth/keys.js";
import { issueEdgeCredential } from "../../src/auth/edge-credential.js";
import { startEdge, spawnEdge } from "../helpers/edge.js";
import { probeFrames, publish, type Run } from "../helpers/ffmpeg.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";
import { flvReader } from "../helpers/flv-reader.js";

type Session = { id: string; role: string; stream: string; edge?: string | null };

const LINGER_MS = 1_500;
const redis = await startRedis(t);
const fleet = (id: string) => ({
  EDGE_CLUSTER_REDIS_URL: redis.url,
  EDGE_CLUSTER_EDGE_ID: id,
  EDGE_PUBLIC_HOST: "127.0.0.1",
  EDGE_BINTU_ORG_HASH: "pulls",
  EDGE_CLUSTER_PULL_LINGER_MS: String(LINGER_MS),
});
const r = await startEdge(t, fleet("r"));
const remote = { EDGE_BINTU_MODE: "remote", EDGE_BINTU_URL: `http://127.0.0.1:${r.addresses.api.port}`, EDGE_BINTU_APIKEY: r.apiKey };
// B asks every viewer for a playback token (R's, verified on B through the fleet's keys).
const [A, B] = await Promise.all([spawnEdge(t, { ...remote, ...fleet("a") }), spawnEdge(t, { ...remote, ...fleet("b"), EDGE_AUTH_PLAYBACK_REQUIRED: "true" })]);
const apiPort = { r: r.addresses.api.port, a: A.addresses.api, b: B.addresses.api };
const api = (edge: keyof typeof apiPort, path: string, init: { method?: string; json?: unknown } = {}) =>
  fetch(`http://127.0.0.1:${apiPort[edge]}${path}`, {
    method: init.method ?? "GET",
    headers: { "X-BINTU-APIKEY": r.apiKey, ...(init.json !== undefined && { "content-type": "application/json" }) },
    ...(init.json !== undefined && { body: JSON.stringify(init.json) }),
  });
const sessions = async (edge: keyof typeof apiPort) => (await (await api(edge, "/v1/sessions")).json()) as Session[];
const relays = async (edge: keyof typeof apiPort, name: string) => (await sessions(edge)).filter((s) => s.role === "relay" && s.stream === name);
const pullConnects = async () => Number(/^bintu_edge_origin_pull_connects_total (\d+)$/m.exec(await (await api("b", "/metrics")).text())?.[1]);
const nowSec = () => Math.floor(Date.now() / 1000);
async function token(body: object = {}): Promise<string> {
  const json = (await (await api("r", "/api/v1/splay", { method: "POST", json: { streams: [name], exp: nowSec() + 600, ...body } })).json()) as {
    data?: { token: string };
  };
  if (!json.data) throw new Error(`splay: ${JSON.stringify(json)}`);
  return json.data.token;
}

const encoders: Run[] = [];
const encode = (rtmpPort: number, stream: string) => {
  const run = publish(`rtmp://127.0.0.1:${rtmpPort}/live/${stream}`, { seconds: 120, size: "160x120" });
  encoders.push(run);
  return run;
};
t.teardown(() => encoders.forEach((e) => e.child.kill("SIGKILL")));

const { name } = await r.createStream();
const onA = encode(A.addresses.rtmp, name);
await waitFor(
  "B locates the stream on A",
  async () => ((await (await api("b", `/v1/locate?stream=${name}`)).json()) as { edge?: string }).edge === "a",
  20_000,
);
const viewerToken = await token();
const flvOnB = (tok = viewerToken) => `http://127.0.0.1:${B.addresses.playback}/live/${name}.flv?jwtoken=${tok}`;

t.test("a stream published on A plays on B over HTTP-FLV and RTMP", async (t) => {
  const flv = await probeFrames(flvOnB(), 10);
  t.equal(flv.frames, 10, `ffprobe read 10 video frames through B over HTTP-FLV ${flv.stderr}`);
  const rtmp = await probeFrames(`rtmp://127.0.0.1:${B.addresses.rtmp}/live/${name}?jwtoken=${viewerToken}`, 10);
  t.equal(rtmp.frames, 10, `…and over RTMP ${rtmp.stderr}`);
  const [relay] = await relays("a", name);
  t.match(relay, { role: "relay", edge: "b" }, "A lists B's pull as a relay, naming B");
  t.notOk(
    (await sessions("a")).some((s) => s.role === "player"),
    "…and no player",
  );
});

t.test("50 players at once on a cold stream: one pull; all leave: it ends after the linger", async (t) => {
  await waitFor("the stream is cold on B", async () => (await relays("a", name)).length === 0, LINGER_MS + 3_000);
  const herd = Array.from({ length: 50 }, () => flvReader(flvOnB()));
  await waitFor("every player got video", () => herd.every((p) => p.videoTags > 0), 10_000);
  const pulled = await relays("a", name);
  t.equal(pulled.length, 1, "A serves exactly one relay session");
  t.equal(pulled[0].edge, "b", "…from B");
  t.equal((await sessions("b")).filter((s) => s.role === "player").length, 50, "B counts 50 players");
  const load = (await (await api("a", "/v1/load")).json()) as { players: number; relays: number };
  t.match(load, { players: 0, relays: 1 }, "A's load counts the relay apart from players");

  herd.forEach((p) => p.stop());
  await new Promise((resolve) => setTimeout(resolve, LINGER_MS / 3));
  const back = flvReader(flvOnB());
  await waitFor("a returning player gets video", () => back.videoTags > 0, 5_000);
  t.same(
    (await relays("a", name)).map((s) => s.id),
    [pulled[0].id],
    "a player back within the linger reuses the pull",
  );
  back.stop();
  const left = Date.now();
  await waitFor("the pull ends after the linger", async () => (await relays("a", name)).length === 0, LINGER_MS + 3_000);
  const after = Date.now() - left;
  t.ok(after >= LINGER_MS - 250, `…not before it (${after} ms after the last player left)`);
});

t.test("a viewer the Guardian refuses on B starts no pull", async (t) => {
  await waitFor("the stream is cold on B", async () => (await relays("a", name)).length === 0, LINGER_MS + 3_000);
  const before = await pullConnects();
  const rule = await api("r", "/guardian/referer", { method: "POST", json: { domain: "refused.example", type: "deny" } });
  t.equal(rule.status, 200);
  const refused = () => fetch(flvOnB(), { headers: { referer: "https://refused.example/page" } });
  await waitFor("B refuses the referrer", async () => (await refused()).status === 403, 3_000);
  t.equal((await refused()).status, 403, "refused at B");
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(await pullConnects(), before, "B opened no pull");
  t.equal((await relays("a", name)).length, 0, "A serves no relay");
  await api("r", `/guardian/referer/${((await rule.json()) as { id: string }).id}`, { method: "DELETE" });
});

t.test("A refuses forged, expired and foreign pulls", async (t) => {
  const keys = loadKeySet(r.config.dataDir, []);
  const pull = (stream: string, credential: string) => fetch(`http://127.0.0.1:${A.addresses.playback}/live/${stream}.flv?edgeauth=${credential}`);
  const forged = await pull(name, "eyJhbGciOiJFZERTQSJ9.e30.AAAA");
  t.equal(forged.status, 401, "a forged credential: 401");
  t.equal(((await forged.json()) as { code: string }).code, "EDGE_ERR_TOKEN_INVALID");
  t.equal((await pull(name, issueEdgeCredential(keys.signing!, "r", `/live/${name}`, nowSec() - 120))).status, 401, "an expired one: 401");
  const { name: other } = await r.createStream();
  t.equal((await pull(other, issueEdgeCredential(keys.signing!, "r", `/live/${other}`, nowSec()))).status, 404, "a stream not published on A: 404");
  t.equal((await pull(other, issueEdgeCredential(keys.signing!, "r", `/live/${name}`, nowSec()))).status, 403, "a credential for another stream: 403");
  const good = await pull(name, issueEdgeCredential(keys.signing!, "r", `/live/${name}`, nowSec()));
  t.equal(good.status, 200, "a fleet edge's credential for A's stream: 200");
  await good.body?.cancel();
});

t.test("a revocation ends a pulled viewer on B", async (t) => {
  const revocable = await token({ revocable: true });
  const viewer = flvReader(flvOnB(revocable));
  await waitFor("playing on B", () => viewer.videoTags > 0, 10_000);
  const revoked = Date.now();
  t.equal((await api("r", "/api/v1/splay/revoke", { method: "POST", json: { token: revocable } })).status, 204);
  await viewer.ended;
  t.ok(Date.now() - revoked < 1_000, `the pulled viewer ended ${Date.now() - revoked} ms after the revocation on R`);
});

t.test("the publisher moves from A to R: B's viewers keep reading", async (t) => {
  const viewer = flvReader(flvOnB());
  await waitFor("playing on B", () => viewer.videoTags > 0, 10_000);
  onA.child.kill("SIGKILL");
  const moved = encode(r.addresses.rtmp.port, name);
  t.teardown(() => moved.child.kill("SIGKILL"));
  await waitFor("live on R", async () => (await sessions("r")).some((s) => s.role === "publisher" && s.stream === name), 15_000);
  const atMove = viewer.videoTags;
  await waitFor("B's viewer reads R's video", () => viewer.videoTags >= atMove + 25, 10_000);
  t.equal(viewer.done, false, "the viewer never had to play again");
  t.equal((await relays("r", name)).length, 1, "B pulls from R now");
  viewer.stop();
});

t.test("a lock on the registry's edge ends a pulled viewer on B within 1 s", async (t) => {
  const { id, name: locked } = await r.createStream();
  const run = encode(A.addresses.rtmp, locked);
  t.teardown(() => run.child.kill("SIGKILL"));
  await waitFor("B locates it on A", async () => ((await (await api("b", `/v1/locate?stream=${locked}`)).json()) as { edge?: string }).edge === "a", 20_000);
  const viewer = flvReader(`http://127.0.0.1:${B.addresses.playback}/live/${locked}.flv?jwtoken=${await token({ streams: [locked] })}`);
  await waitFor("playing on B", () => viewer.videoTags > 0, 10_000);
  const at = Date.now();
  t.equal((await api("r", `/stream/${id}/lock`, { method: "PUT" })).status, 200, "R locks the stream");
  await viewer.ended;
  t.ok(Date.now() - at < 1_000, `the pulled viewer ended ${Date.now() - at} ms after the lock`);
});

t.test("kill -9 of A: B's viewers end within the deadlines", async (t) => {
  const { name: second } = await r.createStream();
  encode(A.addresses.rtmp, second);
  await waitFor("B locates it on A", async () => ((await (await api("b", `/v1/locate?stream=${second}`)).json()) as { edge?: string }).edge === "a", 20_000);
  const tok = await token({ streams: [second] });
  const viewer = flvReader(`http://127.0.0.1:${B.addresses.playback}/live/${second}.flv?jwtoken=${tok}`);
  await waitFor("playing on B", () => viewer.videoTags > 0, 10_000);
  const killed = Date.now();
  A.child.kill("SIGKILL");
  await viewer.ended;
  const ms = Date.now() - killed;
  // 5 s without media (cluster.pullGiveUpMs), checked every 250 ms.
  t.ok(ms >= 4_000 && ms < 7_000, `B's viewer ended ${ms} ms after A died`);
});
