// /metrics is real Prometheus exposition and its counters move by the right amounts (issue 2 §6).
import t from "tap";
import { startEdge } from "./helpers/edge.js";
import { publish, probe } from "./helpers/ffmpeg.js";
import { parsePrometheus, valueOf } from "./helpers/prometheus.js";
import { waitFor } from "./helpers/wait.js";

t.test("decisions, sessions and bytes, with no stream name or IP in any label", async (t) => {
  const edge = await startEdge(t);
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${edge.addresses.api.port}/metrics`);
    t.match(res.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    return { text, samples: parsePrometheus(text) };
  };
  const before = (await scrape()).samples;
  // Default metrics under the client-library names stock dashboards use (issue 11 §6).
  t.ok(valueOf(before, "process_resident_memory_bytes") > 0, "default process metrics");
  t.ok(valueOf(before, "nodejs_heap_size_used_bytes") > 0, "default Node.js metrics");
  t.notOk(
    before.some((s) => /^bintu_edge_(process|nodejs)_/.test(s.name)),
    "not renamed with the project prefix",
  );

  const { name } = await edge.createStream();
  for (let i = 0; i < 2; i++) t.not((await publish(edge.rtmpUrl("NoSuch-Stream1"), { seconds: 2 }).exited).code, 0);
  t.equal((await fetch(edge.flvUrl("NoSuch-Stream1"))).status, 404);
  const encoder = publish(edge.rtmpUrl(name), { seconds: 4 });
  await waitFor("live", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 1);
  const probed = await probe(edge.flvUrl(name));
  t.equal(probed.code, 0, probed.stderr);

  const { samples: during } = await scrape();
  const decisions = "bintu_edge_access_decisions_total";
  t.equal(valueOf(during, decisions, { action: "publish", protocol: "rtmp", result: "deny", reason: "unknown_stream" }), 2);
  t.equal(valueOf(during, decisions, { action: "publish", protocol: "rtmp", result: "allow" }), 1);
  t.equal(valueOf(during, decisions, { action: "play", protocol: "flv", result: "deny", reason: "unknown_stream" }), 1);
  t.equal(valueOf(during, decisions, { action: "play", protocol: "flv", result: "allow" }), 1);
  t.equal(valueOf(during, "bintu_edge_sessions", { role: "publisher", protocol: "rtmp" }), 1);
  t.equal(valueOf(during, "bintu_edge_connections_closed_total", { protocol: "rtmp", reason: "unknown_stream" }), 2);
  t.ok(valueOf(during, "bintu_edge_media_bytes_total", { direction: "in" }) > 10_000, "publisher bytes counted");
  t.ok(valueOf(during, "bintu_edge_media_bytes_total", { direction: "out" }) > 1_000, "player bytes counted");

  t.equal((await encoder.exited).code, 0);
  const { text, samples: after } = await scrape();
  t.equal(valueOf(after, "bintu_edge_sessions", { role: "publisher", protocol: "rtmp" }), 0);
  t.ok(
    valueOf(after, "bintu_edge_media_bytes_total", { direction: "in" }) >= valueOf(during, "bintu_edge_media_bytes_total", { direction: "in" }),
    "bytes never go back",
  );
  for (const secret of [name, "NoSuch-Stream1", "127.0.0.1", edge.apiKey]) t.notOk(text.includes(secret), `no ${secret} in /metrics`);
});
