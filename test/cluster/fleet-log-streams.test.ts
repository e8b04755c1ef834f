// Stream lock / unlock through the fleet (issue 12 "Part log"): the edge holding the embedded
// registry posts the change; an edge in remote mode (its bintu is that registry) ends its publisher
// of a locked stream within 1 s and lets it in again after the unlock — neither waiting for its
// re-validation (60 s here) nor for its directory cache (60 s here).
import t from "tap";
import { spawnEdge } from "../helpers/edge.js";
import { publish } from "../helpers/ffmpeg.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

const KEY = "fleet-streams-test-key";
const redis = await startRedis(t);
const fleetEnv = (id: string) => ({ EDGE_CLUSTER_REDIS_URL: redis.url, EDGE_CLUSTER_EDGE_ID: id, EDGE_BINTU_APIKEY: KEY });
const registryEdge = await spawnEdge(t, fleetEnv("registry"));
const remoteEdge = await spawnEdge(t, {
  ...fleetEnv("remote"),
  EDGE_BINTU_MODE: "remote",
  EDGE_BINTU_URL: `http://127.0.0.1:${registryEdge.addresses.api}`,
  EDGE_INGEST_REVALIDATE_INTERVAL_MS: "60000",
  EDGE_BINTU_CACHE_TTL_MS: "60000",
});
type Spawned = typeof registryEdge;
const api = (edge: Spawned, path: string, method = "GET", json?: unknown) =>
  fetch(`http://127.0.0.1:${edge.addresses.api}${path}`, {
    method,
    headers: { "X-BINTU-APIKEY": KEY, ...(json !== undefined && { "content-type": "application/json" }) },
    ...(json !== undefined && { body: JSON.stringify(json) }),
  });
const publishers = async (edge: Spawned) =>
  ((await (await api(edge, "/v1/sessions")).json()) as { role: string }[]).filter((s) => s.role === "publisher").length;
const connected = async (edge: Spawned) => ((await (await api(edge, "/v1/cluster")).json()) as { connected: boolean }).connected;

t.test("a lock on the registry's edge ends the remote edge's publisher within 1 s; an unlock lets it in again", async (t) => {
  await waitFor("both joined the fleet", async () => (await connected(registryEdge)) && (await connected(remoteEdge)), 10_000);
  const created = (await (await api(registryEdge, "/stream", "POST", {})).json()) as { id: string; ingest: { rtmp: { streamname: string } } };
  const name = created.ingest.rtmp.streamname;
  const url = `rtmp://127.0.0.1:${remoteEdge.addresses.rtmp}/live/${name}`;
  const first = publish(url, { seconds: 60 });
  t.teardown(() => first.child.kill("SIGKILL"));
  await waitFor("live on the remote edge", async () => (await publishers(remoteEdge)) === 1, 15_000);

  const locked = Date.now();
  t.equal((await api(registryEdge, `/stream/${created.id}/lock`, "PUT")).status, 200, "locked on the registry's edge");
  await waitFor("the remote publisher ended", async () => (await publishers(remoteEdge)) === 0, 1_000);
  t.pass(`the remote edge ended its publisher ${Date.now() - locked} ms after the lock`);
  t.not((await first.exited).code, 0, "the encoder was cut");

  // Refused while locked: the remote edge's directory now caches "locked" for 60 s.
  t.not((await publish(url, { seconds: 2 }).exited).code, 0, "a publish on the remote edge while locked is refused");
  t.equal((await api(registryEdge, `/stream/${created.id}/unlock`, "PUT")).status, 200, "unlocked");
  const second = publish(url, { seconds: 60 });
  t.teardown(() => second.child.kill("SIGKILL"));
  await waitFor("live again on the remote edge (its cached 'locked' was dropped)", async () => (await publishers(remoteEdge)) === 1, 10_000);
  t.match(await redis.command("HGET", "bintu-edge:state", `stream:${name}`), /"locked":false/, "the fleet's record says unlocked");
});
