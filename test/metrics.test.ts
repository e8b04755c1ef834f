// /metrics is real Prometheus exposition and its counters move by the right amounts (issue 2 §6).
import t from "tap";
import { startEdge } from "./helpers/edge.js";
import { publish, probe } from "./helpers/ffmpeg.js";
import { parsePrometheus, valueOf } from "./helpers/prometheus.js";
import { freePort } from "./helpers/prometheus-server.js";
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
  // The event-loop monitor samples every 100 ms (EVENT_LOOP_RESOLUTION_MS: its 10 ms default woke an idle
  // edge 100 times a second), and its gauges report the delay beyond that interval. The edge runs in this
  // process, so blocking this loop blocks the edge's. The scrape above reset the monitor; its first firing
  // after a reset only starts the next interval, so the stall starts after one.
  await new Promise((r) => setTimeout(r, 250));
  const idle = (await scrape()).samples;
  t.ok(valueOf(idle, "nodejs_eventloop_lag_p50_seconds") < 0.05, `an idle loop reads no lag (p50 ${valueOf(idle, "nodejs_eventloop_lag_p50_seconds")} s)`);
  await new Promise((r) => setTimeout(r, 250));
  const stallUntil = performance.now() + 300;
  while (performance.now() < stallUntil);
  await new Promise((r) => setTimeout(r, 250));
  const stalled = (await scrape()).samples;
  const max = valueOf(stalled, "nodejs_eventloop_lag_max_seconds");
  t.ok(max >= 0.15 && max < 5, `a 300 ms stall measured (${max} s)`);
  t.ok(
    ["min", "mean", "stddev", "p50", "p90", "p99"].every((p) => stalled.some((s) => s.name === `nodejs_eventloop_lag_${p}_seconds`)),
    "every lag gauge published",
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
  t.ok(valueOf(during, "bintu_edge_media_bytes_total", { direction: "in", protocol: "rtmp" }) > 10_000, "publisher bytes counted");
  t.ok(valueOf(during, "bintu_edge_media_bytes_total", { direction: "out", protocol: "flv" }) > 1_000, "HTTP-FLV player bytes counted");
  t.equal(valueOf(during, "bintu_edge_media_bytes_total", { direction: "out", protocol: "rtmp" }), 0, "no RTMP player, no RTMP bytes out");
  t.notOk(
    during.some((s) => s.name === "bintu_edge_media_bytes_total" && s.labels.direction === "in" && s.labels.protocol === "flv"),
    "no flv ingest series",
  );
  // Decision latency (issue 17 §3): one observation per decision above, with the same labels.
  const decided = (labels: Record<string, string>) => valueOf(during, "bintu_edge_access_decision_duration_seconds_count", labels);
  t.equal(decided({ action: "publish", protocol: "rtmp", result: "deny" }), 2, "two refused publishes timed");
  t.equal(decided({ action: "publish", protocol: "rtmp", result: "allow" }), 1, "the accepted publish timed");
  t.equal(decided({ action: "play", protocol: "flv", result: "deny" }), 1, "the refused play timed");
  t.equal(decided({ action: "play", protocol: "flv", result: "allow" }), 1, "the accepted play timed");
  const publishSum = valueOf(during, "bintu_edge_access_decision_duration_seconds_sum", { action: "publish", protocol: "rtmp", result: "allow" });
  t.ok(publishSum > 0 && publishSum < 5, `publish decision took ${publishSum} s`);
  // Lookups that reached the embedded registry: NoSuch-Stream1 once (then the negative cache
  // answers), the real name at least once (the publish start changes its state, which may be re-read).
  t.equal(valueOf(during, "bintu_edge_bintu_lookup_duration_seconds_count", { mode: "embedded", result: "unknown" }), 1, "one registry miss, then cached");
  t.ok(valueOf(during, "bintu_edge_bintu_lookup_duration_seconds_count", { mode: "embedded", result: "found" }) >= 1, "registry hits timed");
  t.notOk(
    during.some((s) => s.name === "bintu_edge_tls_certificate_expiry_seconds"),
    "no certificate expiry without TLS (a 0 would read as expired to the alert)",
  );
  const info = during.find((s) => s.name === "bintu_edge_build_info");
  t.same(
    info && { ...info.labels, value: info.value },
    { version: "0.1.0", nms_version: "4.4.3", nodejs_version: process.versions.node, value: 1 },
    "build info",
  );
  t.equal(valueOf(during, "bintu_edge_bintu_breaker_open"), 0, "no breaker in embedded mode: closed");

  t.equal((await encoder.exited).code, 0);
  const { text, samples: after } = await scrape();
  t.equal(valueOf(after, "bintu_edge_sessions", { role: "publisher", protocol: "rtmp" }), 0);
  for (const labels of [
    { direction: "in", protocol: "rtmp" },
    { direction: "out", protocol: "flv" },
  ]) {
    t.ok(valueOf(after, "bintu_edge_media_bytes_total", labels) >= valueOf(during, "bintu_edge_media_bytes_total", labels), "bytes never go back");
  }
  for (const secret of [name, "NoSuch-Stream1", "127.0.0.1", edge.apiKey]) t.notOk(text.includes(secret), `no ${secret} in /metrics`);
});

t.test("a remote bintu that is down: lookups timed as errors, and the breaker-open gauge says so", async (t) => {
  // A port nothing listens on: every request to "bintu" is refused at once.
  const edge = await startEdge(t, {
    EDGE_BINTU_MODE: "remote",
    EDGE_BINTU_URL: `http://127.0.0.1:${await freePort()}`,
    EDGE_BINTU_APIKEY: "metrics-remote-key",
    EDGE_BINTU_BREAKER_FAILURES: "2",
    EDGE_BINTU_BREAKER_COOLDOWN_MS: "60000",
  });
  const scrape = async () => parsePrometheus(await (await fetch(`http://127.0.0.1:${edge.addresses.api.port}/metrics`)).text());
  t.equal(valueOf(await scrape(), "bintu_edge_bintu_breaker_open"), 0, "closed before any failure");
  for (const name of ["Dead-Bintu1", "Dead-Bintu2", "Dead-Bintu3"]) {
    const res = await fetch(edge.flvUrl(name));
    t.equal(res.status, 503, `${name}: refused, bintu unavailable (fail closed)`);
    await res.body?.cancel();
  }
  const samples = await scrape();
  t.equal(valueOf(samples, "bintu_edge_bintu_breaker_open"), 1, "open after two failures in a row");
  t.equal(valueOf(samples, "bintu_edge_bintu_breaker_transitions_total", { to: "open" }), 1);
  // The third lookup is refused by the open breaker without reaching bintu: two timed lookups.
  t.equal(valueOf(samples, "bintu_edge_bintu_lookup_duration_seconds_count", { mode: "remote", result: "error" }), 2, "failed lookups timed");
  t.equal(valueOf(samples, "bintu_edge_access_decision_duration_seconds_count", { action: "play", protocol: "flv", result: "deny" }), 3, "every refusal timed");
});
