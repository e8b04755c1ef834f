// What a TLS edge announces to the fleet (issue 15 §4): its routing table entry — which routers
// turn into /v1/route answers and origin pulls use — names rtmps:// and https:// once RTMPS is
// bound, keeps plain URLs without TLS, and never overrides the URLs an operator announced. The last
// test runs it end to end: a real redis-server, a TLS edge announcing itself, a router answering.
import t from "tap";
import { announcedEntry } from "../../src/cluster/edge-registry.js";
import { loadConfig } from "../../src/config/load.js";
import { spawnEdge, startEdge } from "../helpers/edge.js";
import { makePki } from "../helpers/pki.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

const base = { EDGE_PUBLIC_HOST: "fra-1.edge.example.com", EDGE_CLUSTER_EDGE_ID: "fra-1" };
const bound = { rtmp: { port: 1935 }, playback: { port: 8000 }, api: { port: 8080 } };

t.test("with RTMPS bound: rtmps:// ingest and play, https:// playback and API", async (t) => {
  const entry = announcedEntry(loadConfig({ env: base }), { ...bound, rtmps: { port: 1936 } });
  t.same(entry.urls, {
    ingest: "rtmps://fra-1.edge.example.com:1936",
    rtmp: "rtmps://fra-1.edge.example.com:1936",
    flv: "https://fra-1.edge.example.com:8000",
  });
  t.equal(entry.api, "https://fra-1.edge.example.com:8080", "other edges probe its API over TLS");
});

t.test("without TLS: the plain URLs, as before", async (t) => {
  const entry = announcedEntry(loadConfig({ env: base }), bound);
  t.same(entry.urls, { ingest: "rtmp://fra-1.edge.example.com:1935", rtmp: "rtmp://fra-1.edge.example.com:1935", flv: "http://fra-1.edge.example.com:8000" });
  t.equal(entry.api, "http://fra-1.edge.example.com:8080");
});

t.test("URLs the operator announced win over the derived ones", async (t) => {
  const config = loadConfig({
    env: { ...base, EDGE_CLUSTER_ANNOUNCE_API: "https://api.fra-1.example.com", EDGE_CLUSTER_ANNOUNCE_URLS_FLV: "https://cdn.example.com/fra-1" },
  });
  const entry = announcedEntry(config, { ...bound, rtmps: { port: 1936 } });
  t.equal(entry.api, "https://api.fra-1.example.com");
  t.equal(entry.urls.flv, "https://cdn.example.com/fra-1");
  t.equal(entry.urls.ingest, "rtmps://fra-1.edge.example.com:1936", "what was not announced is still derived");
});

t.test("a router's /v1/route hands out the TLS edge's rtmps:// and https:// URLs from the registry", async (t) => {
  const redis = await startRedis(t);
  const leaf = makePki(t).leaf(0x6006);
  const fleet = (id: string, lat: number) => ({
    EDGE_CLUSTER_REDIS_URL: redis.url,
    EDGE_CLUSTER_EDGE_ID: id,
    EDGE_CLUSTER_ANNOUNCE_LAT: String(lat),
    EDGE_PUBLIC_HOST: "127.0.0.1",
    EDGE_BINTU_APIKEY: "tls-urls-test-key-0123456789",
  });
  const edge = await spawnEdge(t, { ...fleet("tls-1", 52.5), EDGE_TLS_CERT_FILE: leaf.cert, EDGE_TLS_KEY_FILE: leaf.key, EDGE_RTMP_TLS_PORT: "0" });
  // The router (plain HTTP, far away) is a fleet member too; the client is placed next to tls-1.
  const router = await startEdge(t, {
    ...fleet("router", -45),
    EDGE_GEO_OVERRIDES: JSON.stringify([{ cidr: "127.0.0.0/8", lat: 52.52, lon: 13.4, country: "DE" }]),
  });
  const route = async (query: string) => {
    const res = await router.api(`/v1/route?stream=s1${query}`, { key: null });
    return res.status === 200 ? ((await res.json()) as { edge: string; url: string }) : null;
  };
  await waitFor("tls-1 announced", async () => (await route(""))?.edge === "tls-1", 10_000);
  t.match(await route(""), { edge: "tls-1", url: `https://127.0.0.1:${edge.addresses.playback}/live/s1.flv` }, "HTTP-FLV over https://");
  t.match(await route("&protocol=rtmp"), { edge: "tls-1", url: `rtmps://127.0.0.1:${edge.addresses.rtmps}/live/s1` }, "RTMP play over rtmps://");
  t.match(await route("&action=publish&protocol=rtmp"), { edge: "tls-1", url: `rtmps://127.0.0.1:${edge.addresses.rtmps}/live/s1` }, "ingest over rtmps://");
});
