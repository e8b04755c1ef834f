// Fleet-wide rules, revocations and token keys (issue 12 "Part log") across three edges as child
// processes on one real redis-server: a deny rule added on A refuses a player on C within 1 s; a
// revocation on B ends a running player on C within 1 s (C's token, verified on B through the
// fleet's keys); a frozen, then killed and emptied Redis leaves local service running, answers
// admin writes 503 meanwhile, and loses nothing: the edges seed it back, changes after it arrive.
import { spawnSync } from "node:child_process";
import t from "tap";
import { spawnEdge } from "../helpers/edge.js";
import { play, publish } from "../helpers/ffmpeg.js";
import { FLEET_ONLY, boardMetricsMatching, exportedFamilies } from "../helpers/grafana.js";
import { parsePrometheus, valueOf } from "../helpers/prometheus.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

const KEY = "fleet-log-test-key";
const redis = await startRedis(t);
const env = (id: string) => ({
  EDGE_CLUSTER_REDIS_URL: redis.url,
  EDGE_CLUSTER_EDGE_ID: id,
  EDGE_BINTU_APIKEY: KEY,
  EDGE_BINTU_ORG_HASH: "fleet",
  EDGE_AUTH_PLAYBACK_REQUIRED: "true",
  EDGE_GUARDIAN_ENFORCE_ON_ACTIVE: "true",
});
const [A, B, C] = await Promise.all(["a", "b", "c"].map((id) => spawnEdge(t, env(id))));
const api = (edge: typeof A, path: string, init: { method?: string; json?: unknown } = {}) =>
  fetch(`http://127.0.0.1:${edge.addresses.api}${path}`, {
    method: init.method ?? "GET",
    headers: { "X-BINTU-APIKEY": KEY, ...(init.json !== undefined && { "content-type": "application/json" }) },
    ...(init.json !== undefined && { body: JSON.stringify(init.json) }),
  });
const cluster = async (edge: typeof A) => (await (await api(edge, "/v1/cluster")).json()) as { connected: boolean; epoch: string; appliedSeq: number };
const players = async (edge: typeof A) => ((await (await api(edge, "/v1/sessions")).json()) as { role: string }[]).filter((s) => s.role === "player").length;
const publishers = async (edge: typeof A) =>
  ((await (await api(edge, "/v1/sessions")).json()) as { role: string }[]).filter((s) => s.role === "publisher").length;
const nowSec = () => Math.floor(Date.now() / 1000);

async function issue(edge: typeof A, body: object): Promise<string> {
  const json = (await (await api(edge, "/api/v1/splay", { method: "POST", json: body })).json()) as { data?: { token: string } };
  if (!json.data) throw new Error(`issue: ${JSON.stringify(json)}`);
  return json.data.token;
}

// One stream, live on C for the whole file; created in C's embedded registry.
const created = (await (await api(C, "/stream", { method: "POST", json: {} })).json()) as { ingest: { rtmp: { streamname: string } } };
const name = created.ingest.rtmp.streamname;
const encoder = publish(`rtmp://127.0.0.1:${C.addresses.rtmp}/live/${name}`, { seconds: 120 });
t.teardown(() => encoder.child.kill("SIGKILL"));
await waitFor("all three edges joined the fleet", async () => (await Promise.all([A, B, C].map(cluster))).every((c) => c.connected), 10_000);
await waitFor("live on C", async () => (await publishers(C)) === 1, 15_000);
const flvOnC = (token: string) => `http://127.0.0.1:${C.addresses.playback}/live/${name}.flv?jwtoken=${token}`;
const authorizeOnC = (token: string) => fetch(`http://127.0.0.1:${C.addresses.api}/v1/authorize/play?stream=${name}&jwtoken=${token}`);

t.test("a deny rule added on A refuses a player on C and cuts a running one within 1 s; its removal on B lets it in again", async (t) => {
  const token = await issue(C, { streams: [name], exp: nowSec() + 600 });
  t.equal((await authorizeOnC(token)).status, 204, "C lets the player in before the rule");
  const running = play(flvOnC(token), { frames: 1_000_000, timeoutMs: 60_000 });
  t.teardown(() => running.child.kill("SIGKILL"));
  await waitFor("playing on C", async () => (await players(C)) === 1, 10_000);
  const added = Date.now();
  const res = await api(A, "/guardian/ip", { method: "POST", json: { ip: "127.0.0.1", type: "deny", actions: ["play"] } });
  t.equal(res.status, 200, "A took the rule");
  const rule = (await res.json()) as { id: string };
  await waitFor("C refuses", async () => (await fetch(flvOnC(token))).status === 403, 1_000);
  t.pass(`C refused the player ${Date.now() - added} ms after A took the rule`);
  await waitFor("the running player on C was cut (guardian.enforceOnActive)", async () => (await players(C)) === 0, 1_000 - (Date.now() - added));
  t.pass(`…and cut its running player ${Date.now() - added} ms after`);
  const refused = (await (await fetch(flvOnC(token))).json()) as { code: string };
  t.equal(refused.code, "EDGE_ERR_GUARDIAN_IP", "…by the Guardian rule");
  t.same(
    ((await (await api(C, "/guardian/ip")).json()) as { id: string }[]).map((r) => r.id),
    [rule.id],
    "C lists A's rule under A's id",
  );

  t.equal((await api(B, `/guardian/ip/${rule.id}`, { method: "DELETE" })).status, 204, "B removes it");
  await waitFor("C lets it in again", async () => (await authorizeOnC(token)).status === 204, 1_000);
});

t.test("a revocation on B ends a player on C within 1 s (C's token, known to B through the fleet's keys)", async (t) => {
  const token = await issue(C, { streams: [name], exp: nowSec() + 600, revocable: true });
  const player = play(flvOnC(token), { frames: 1_000_000, timeoutMs: 60_000 });
  t.teardown(() => player.child.kill("SIGKILL"));
  await waitFor("playing on C", async () => (await players(C)) === 1, 10_000);
  const revoked = Date.now();
  t.equal((await api(B, "/api/v1/splay/revoke", { method: "POST", json: { token } })).status, 204, "B revokes C's token");
  await waitFor("the player on C ended", async () => (await players(C)) === 0, 1_000);
  t.pass(`the player on C ended ${Date.now() - revoked} ms after B's revocation`);
  t.not((await player.exited).code, null);
  const again = (await (await fetch(flvOnC(token))).json()) as { code: string };
  t.equal(again.code, "EDGE_ERR_TOKEN_REVOKED", "C refuses the token afterwards");
});

t.test("Redis frozen, then killed and restarted empty: local service goes on, writes 503, nothing lost", async (t) => {
  const revocable = await issue(C, { streams: [name], exp: nowSec() + 600, revocable: true });
  const kept = await api(A, "/guardian/referer", { method: "POST", json: { domain: "kept.example", type: "deny" } });
  t.equal(kept.status, 200);
  t.equal((await api(B, "/api/v1/splay/revoke", { method: "POST", json: { token: revocable } })).status, 204);
  await waitFor("C has both", async () => (await authorizeOnC(revocable)).status === 401, 1_000);
  const epoch = (await cluster(A)).epoch;
  const viewer = await issue(C, { streams: [name], exp: nowSec() + 600, revocable: true });
  const player = play(flvOnC(viewer), { frames: 1_000_000, timeoutMs: 60_000 });
  t.teardown(() => player.child.kill("SIGKILL"));
  await waitFor("playing on C", async () => (await players(C)) === 1, 10_000);

  redis.freeze();
  const frozenAt = Date.now();
  const during = await api(A, "/guardian/ip", { method: "POST", json: { ip: "192.0.2.7", type: "deny" } });
  t.equal(during.status, 503, `a rule while Redis is frozen: 503 (after ${Date.now() - frozenAt} ms)`);
  t.match(await during.json(), { error: { code: 503 } }, "in the Guardian API's envelope");
  const revokeDuring = await api(B, "/api/v1/splay/revoke", { method: "POST", json: { token: viewer } });
  t.equal(revokeDuring.status, 503, "a revocation while Redis is frozen: 503");
  t.equal(((await revokeDuring.json()) as { errorCode: number }).errorCode, 503, "in the token service's envelope");
  t.equal((await authorizeOnC(viewer)).status, 204, "C still decides plays from memory");
  await new Promise((r) => setTimeout(r, Math.max(0, 3_000 - (Date.now() - frozenAt))));
  t.equal(await players(C), 1, "the player on C played through the freeze");
  redis.thaw();
  await waitFor("reconnected after the freeze", async () => (await Promise.all([A, B, C].map(cluster))).every((c) => c.connected), 5_000);
  t.equal(((await (await api(C, "/guardian/ip")).json()) as unknown[]).length, 0, "the refused rule never landed");
  t.equal((await authorizeOnC(viewer)).status, 204, "…nor the refused revocation");

  await redis.kill();
  await waitFor("all see Redis down", async () => (await Promise.all([A, B, C].map(cluster))).every((c) => !c.connected), 5_000);
  t.equal((await api(A, "/guardian/ip", { method: "POST", json: { ip: "192.0.2.8", type: "deny" } })).status, 503, "a rule while Redis is dead: 503");
  t.equal((await authorizeOnC(viewer)).status, 204, "plays still allowed from memory");
  t.equal((await authorizeOnC(revocable)).status, 401, "…and the revocation still in force");
  const down = (await (await api(C, "/metrics")).text()).match(/^bintu_edge_cluster_connected (\S+)$/m)?.[1];
  t.equal(down, "0", "the connected gauge says so");
  t.equal((await fetch(`http://127.0.0.1:${C.addresses.api}/readyz`)).status, 200, "/readyz stays ready while local service works");
  await redis.restart();
  const restarted = Date.now();
  await waitFor("rejoined the emptied Redis", async () => (await Promise.all([A, B, C].map(cluster))).every((c) => c.connected), 5_000);
  t.comment(`all three edges rejoined ${Date.now() - restarted} ms after Redis came back empty`);
  t.same(
    (await Promise.all([A, B, C].map(cluster))).map((c) => c.epoch),
    [epoch, epoch, epoch],
    "every edge kept the fleet's epoch (one of them seeded the empty Redis)",
  );
  t.match(await redis.command("HEXISTS", "bintu-edge:state", `rule:${((await kept.clone().json()) as { id: string }).id}`), ":1", "Redis has the rule back");
  t.match(await redis.command("HLEN", "bintu-edge:state"), /^:[1-9]/, "…and the fleet's other records");
  t.equal(await players(C), 1, "the player on C played through the outage");
  t.equal(await publishers(C), 1, "…and so did the publisher");

  const after = await api(B, "/guardian/ip", { method: "POST", json: { ip: "198.51.100.9", type: "deny" } });
  t.equal(after.status, 200, "writes work again");
  const afterId = ((await after.json()) as { id: string }).id;
  await waitFor(
    "the change after the restart reached A and C",
    async () => {
      const lists = await Promise.all([A, C].map(async (e) => ((await (await api(e, "/guardian")).json()) as { id: string }[]).map((r) => r.id)));
      return lists.every((ids) => ids.includes(afterId));
    },
    1_000,
  );
  const rules = await Promise.all([A, B, C].map(async (e) => ((await (await api(e, "/guardian")).json()) as { id: string }[]).map((r) => r.id).sort()));
  t.same(rules[0], rules[1], "A and B hold the same rules");
  t.same(rules[1], rules[2], "B and C hold the same rules");
  t.equal(rules[0].length, 2, "the kept rule and the new one, once each");
  t.equal((await authorizeOnC(revocable)).status, 401, "the revocation survived the empty restart");
  const views = await Promise.all([A, B, C].map(cluster));
  t.ok(
    views.every((v) => v.appliedSeq === views[0].appliedSeq),
    `every replica at one seq (${views[0].appliedSeq})`,
  );
});

t.test("the fleet metrics: connected, lag, staleness and propagation, promtool clean", async (t) => {
  const text = await (await api(C, "/metrics")).text();
  const samples = parsePrometheus(text);
  t.equal(valueOf(samples, "bintu_edge_cluster_connected"), 1, "connected");
  t.equal(valueOf(samples, "bintu_edge_cluster_replica_lag"), 0, "no lag");
  t.equal(valueOf(samples, "bintu_edge_cluster_stale_seconds"), 0, "not stale");
  const count = valueOf(samples, "bintu_edge_cluster_change_propagation_seconds_count");
  t.ok(count > 0, `propagation observed for ${count} changes`);
  const fleetOnly = text
    .split("\n")
    .filter((l) => /^(# (HELP|TYPE) )?bintu_edge_cluster_/.test(l))
    .join("\n");
  const res = spawnSync("promtool", ["check", "metrics"], { input: fleetOnly + "\n", encoding: "utf8", timeout: 20_000 });
  t.equal(res.error, undefined, "promtool runs");
  t.equal(res.status, 0, `promtool finds nothing on the fleet's metrics: ${res.stdout}${res.stderr}`);
  // The Grafana board's fleet panels name families a fleet edge exports (a plain edge has none).
  const onBoard = boardMetricsMatching(FLEET_ONLY);
  t.ok(onBoard.length >= 5, `the board graphs the fleet: ${onBoard.join(", ")}`);
  const exported = exportedFamilies(text);
  t.same(
    onBoard.filter((m) => !exported.has(m)),
    [],
    "every fleet family on the board is exported by a fleet edge",
  );
});
