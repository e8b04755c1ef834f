// Edges reach each other over TLS (issue 15 §4): an origin serving HTTPS with a private CA's
// certificate is pulled from by another edge that trusts that CA through tls.caFile — the pull
// (HTTP-FLV, src/ingest/origin-pull.ts) and the pulling edge's bintu lookups both go over verified
// TLS. Two-tier set-up as in test/ingest/origin-pull-static.test.ts: one shared auth.keys entry.
import { readFileSync } from "node:fs";
import t from "tap";
import { spawnEdge, startEdge } from "../helpers/edge.js";
import { probeFrames, publish } from "../helpers/ffmpeg.js";
import { makePki } from "../helpers/pki.js";
import { httpsRequest } from "../helpers/tls-clients.js";
import { waitFor } from "../helpers/wait.js";

const pki = makePki(t);
const leaf = pki.leaf(0x5005);
const ca = readFileSync(pki.caFile, "utf8");
const keys = JSON.stringify([{ kid: "two-tier", alg: "HS256", secret: "two-tier-shared-secret-0123456789abcdef" }]);

const a = await startEdge(t, { EDGE_AUTH_KEYS: keys, EDGE_TLS_CERT_FILE: leaf.cert, EDGE_TLS_KEY_FILE: leaf.key, EDGE_RTMP_TLS_PORT: "0" });
const aApi = `https://127.0.0.1:${a.addresses.api.port}`;
const b = await spawnEdge(t, {
  EDGE_AUTH_KEYS: keys,
  EDGE_TLS_CA_FILE: pki.caFile,
  EDGE_BINTU_MODE: "remote",
  EDGE_BINTU_URL: aApi,
  EDGE_BINTU_APIKEY: a.apiKey,
  EDGE_CLUSTER_ORIGINS: `https://127.0.0.1:${a.addresses.playback.port}`,
});

t.test("a stream published on a TLS origin plays on an edge that pulls it over verified HTTPS", async (t) => {
  const created = await httpsRequest(`${aApi}/stream`, ca, {
    method: "POST",
    headers: { "X-BINTU-APIKEY": a.apiKey, "content-type": "application/json" },
    body: "{}",
  });
  const name = (JSON.parse(created.text) as { ingest: { rtmp: { streamname: string } } }).ingest.rtmp.streamname;
  const encoder = publish(`rtmps://127.0.0.1:${a.addresses.rtmps!.port}/live/${name}`, { seconds: 30, size: "160x120" });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  const sessions = async () =>
    JSON.parse((await httpsRequest(`${aApi}/v1/sessions`, ca, { headers: { "X-BINTU-APIKEY": a.apiKey } })).text) as { role: string }[];
  await waitFor("live on A", async () => (await sessions()).length === 1, 15_000);
  const flv = await probeFrames(`http://127.0.0.1:${b.addresses.playback}/live/${name}.flv`, 10);
  t.equal(flv.frames, 10, `ffprobe read 10 video frames through B ${flv.stderr}`);
  t.ok(
    (await sessions()).some((s) => s.role === "relay"),
    "A served B's pull as a relay",
  );
  encoder.child.kill("SIGKILL");
});
