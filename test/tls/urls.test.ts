// What a TLS edge announces to the fleet (issue 15 §4): its routing table entry — which routers
// turn into /v1/route answers and origin pulls use — names rtmps:// and https:// once RTMPS is
// bound, keeps plain URLs without TLS, and never overrides the URLs an operator announced.
import t from "tap";
import { announcedEntry } from "../../src/cluster/edge-registry.js";
import { loadConfig } from "../../src/config/load.js";

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
