// Token key rotation across the fleet (issue 12 §6): an edge's keys change with its `auth.keys` and
// the restart that loads them. Edge A restarts with a new signing key in place of the old one: a token
// signed with the new key verifies on edge C within 1 s of A being ready, and a token signed with the
// retired key — verified (and cached) on C before — is refused on C within 1 s too. A key A retires
// but edge B still has (one key configured on both) stays in the fleet: B posts it back.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { spawnEdge } from "../helpers/edge.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

const KEY = "fleet-keys-test-key";
const redis = await startRedis(t);
const env = (id: string) => ({
  EDGE_CLUSTER_REDIS_URL: redis.url,
  EDGE_CLUSTER_EDGE_ID: id,
  EDGE_BINTU_APIKEY: KEY,
  EDGE_BINTU_ORG_HASH: "fleet",
  EDGE_AUTH_PLAYBACK_REQUIRED: "true",
});
const signingKey = (kid: string) => ({
  kid,
  alg: "EdDSA",
  privateKey: generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }) as string,
});
// One key configured on A and B alike (a fleet may share a signing key); A's last key signs.
const shared = signingKey("shared");
// A keeps its data dir across the restart (its generated key, its persisted replica), as a real edge does.
const dataA = mkdtempSync(join(tmpdir(), "bintu-edge-fleet-keys-"));
t.teardown(() => rmSync(dataA, { recursive: true, force: true }));

type Edge = Awaited<ReturnType<typeof spawnEdge>>;
const api = (edge: Edge, path: string, json?: unknown) =>
  fetch(`http://127.0.0.1:${edge.addresses.api}${path}`, {
    method: json === undefined ? "GET" : "POST",
    headers: { "X-BINTU-APIKEY": KEY, ...(json !== undefined && { "content-type": "application/json" }) },
    ...(json !== undefined && { body: JSON.stringify(json) }),
  });
const joined = async (edge: Edge) => ((await (await api(edge, "/v1/cluster")).json()) as { connected: boolean }).connected;
const kidOf = (token: string) => (JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString()) as { kid: string }).kid;

const [C, B] = await Promise.all([spawnEdge(t, env("c")), spawnEdge(t, { ...env("b"), EDGE_AUTH_KEYS: JSON.stringify([shared]) })]);
await waitFor("B and C joined the fleet", async () => (await joined(B)) && (await joined(C)), 10_000);
// A joins last, so the fleet's record of the shared key names A: A's rotation below deletes it.
let A = await spawnEdge(t, { ...env("a"), EDGE_DATA_DIR: dataA, EDGE_AUTH_KEYS: JSON.stringify([shared, signingKey("k1")]) });
await waitFor("A joined the fleet", () => joined(A), 10_000);
await waitFor("the shared key's record names A", async () => /"edge":"a"/.test(await redis.command("HGET", "bintu-edge:state", "key:shared")), 2_000);
const created = (await (await api(C, "/stream", {})).json()) as { ingest: { rtmp: { streamname: string } } };
const name = created.ingest.rtmp.streamname;
const authorizeOnC = (token: string) => fetch(`http://127.0.0.1:${C.addresses.api}/v1/authorize/play?stream=${name}&jwtoken=${token}`);

async function issueOn(edge: Edge): Promise<string> {
  const json = (await (await api(edge, "/api/v1/splay", { streams: [name], exp: Math.floor(Date.now() / 1000) + 600 })).json()) as { data?: { token: string } };
  if (!json.data) throw new Error(`issue: ${JSON.stringify(json)}`);
  return json.data.token;
}

t.test("a key rotated on A reaches C within 1 s of A's restart; the retired key stops verifying there", async (t) => {
  const old = await issueOn(A);
  t.equal(kidOf(old), "k1", "A signs with its configured key k1");
  await waitFor("C verifies A's k1 token (the fleet's keys)", async () => (await authorizeOnC(old)).status === 204, 1_000);

  const exited = new Promise((resolve) => A.child.once("exit", resolve));
  A.child.kill("SIGTERM");
  await exited;
  t.equal((await authorizeOnC(old)).status, 204, "while A restarts, C still verifies A's tokens");
  A = await spawnEdge(t, { ...env("a"), EDGE_DATA_DIR: dataA, EDGE_AUTH_KEYS: JSON.stringify([signingKey("k2")]) });
  const ready = Date.now();
  const fresh = await issueOn(A);
  t.equal(kidOf(fresh), "k2", "A restarted with k2 in place of k1 and signs with it");
  await waitFor("C verifies the k2 token", async () => (await authorizeOnC(fresh)).status === 204, 1_000 - (Date.now() - ready));
  t.pass(`C verified A's new key ${Date.now() - ready} ms after A was ready`);
  await waitFor("C refuses the retired k1 token", async () => (await authorizeOnC(old)).status === 401, 1_000 - (Date.now() - ready));
  t.pass(`…and refused the retired key's token ${Date.now() - ready} ms after`);
  t.equal(await redis.command("HEXISTS", "bintu-edge:state", "key:k1"), ":0\r\n", "k1 is gone from the fleet's snapshot");
  t.equal(await redis.command("HEXISTS", "bintu-edge:state", "key:k2"), ":1\r\n", "k2 is in it");
  const fromB = await issueOn(B);
  t.equal(kidOf(fromB), "shared", "B signs with the key it shares");
  await waitFor(
    "B posted the shared key back after A retired it",
    async () => /"edge":"b"/.test(await redis.command("HGET", "bintu-edge:state", "key:shared")),
    1_000,
  );
  t.equal((await authorizeOnC(fromB)).status, 204, "C still verifies the shared key: B still has it");
});
