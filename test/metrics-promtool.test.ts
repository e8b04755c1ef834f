// `promtool check metrics` on a real edge's /metrics (issue 11 §6): the project's own names
// follow the Prometheus naming rules promtool checks (base units, _total on counters, no unit
// mix-ups). promtool comes from Debian's prometheus package (scripts/install-test-deps.sh).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { spawnEdge, startEdge } from "./helpers/edge.js";
import { publish } from "./helpers/ffmpeg.js";
import { parsePrometheus, valueOf } from "./helpers/prometheus.js";
import { waitFor } from "./helpers/wait.js";

const APIKEY = "promtool-test-key";

t.test("promtool finds no problem with the project's metric names", async (t) => {
  // A routed edge in a child process with a publisher, so the per-edge load gauges carry a real
  // report. Its data dir is its own: startEdge below resets this test's testdir.
  const childDir = mkdtempSync(join(tmpdir(), "bintu-edge-promtool-"));
  t.teardown(() => rmSync(childDir, { recursive: true, force: true }));
  const routed = await spawnEdge(t, { EDGE_DATA_DIR: childDir, EDGE_BINTU_APIKEY: APIKEY });
  const childApi = `http://127.0.0.1:${routed.addresses.api}`;
  const created = await fetch(`${childApi}/stream`, {
    method: "POST",
    headers: { "X-BINTU-APIKEY": APIKEY, "content-type": "application/json" },
    body: "{}",
  });
  t.equal(created.status, 200, "stream created on the routed edge");
  const name = ((await created.json()) as { ingest: { rtmp: { streamname: string } } }).ingest.rtmp.streamname;
  const encoder = publish(`rtmp://127.0.0.1:${routed.addresses.rtmp}/live/${name}`, { seconds: 6 });

  const edge = await startEdge(t, {
    EDGE_ROUTING_EDGES: JSON.stringify([
      { id: "c", region: "eu", lat: 50, lon: 8, api: childApi, capacity: { sessions: 4 }, urls: { flv: `http://127.0.0.1:${routed.addresses.playback}` } },
    ]),
    EDGE_ROUTING_HEALTH_INTERVAL_MS: "200",
  });
  // Samples for the edge's own families: a refused publish and a route answer.
  t.not((await publish(edge.rtmpUrl("NoSuch-Stream1"), { seconds: 1 }).exited).code, 0, "unknown key refused");
  const { name: local } = await edge.createStream();
  t.equal((await edge.api(`/v1/route?stream=${local}`, { key: null })).status, 200, "routed to edge c");
  const scrape = async () => (await edge.api("/metrics", { key: null })).text();
  // The route above counts on edge c until its next report, so wait for a report that has both.
  await waitFor("the routed edge's load report to show its publisher", async () => {
    const samples = parsePrometheus(await scrape());
    return (
      valueOf(samples, "bintu_edge_routing_edge_sessions", { edge: "c" }) === 1 &&
      valueOf(samples, "bintu_edge_routing_edge_load_ratio", { edge: "c" }) === 0.25
    );
  });

  const text = await scrape();
  const samples = parsePrometheus(text);
  t.ok(
    samples.some((s) => s.name === "bintu_edge_routing_edge_cpu_cores_busy" && s.labels.edge === "c"),
    "cores busy",
  );
  t.ok(
    samples.some((s) => s.name === "bintu_edge_routing_edge_egress_bytes_per_second" && s.labels.edge === "c"),
    "egress",
  );
  t.ok(valueOf(samples, "process_resident_memory_bytes") > 0, "default process metrics, unprefixed");
  t.ok(valueOf(samples, "nodejs_heap_size_used_bytes") > 0, "default Node.js metrics, unprefixed");
  t.notOk(/^bintu_edge_(process|nodejs)_/m.test(text), "no prefixed default metrics");
  t.notOk(/^bintu_edge_routing_edge_load\{/m.test(text), "the mixed-unit gauge is gone");

  const res = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 20_000 });
  t.equal(res.error, undefined, "promtool runs (scripts/install-test-deps.sh installs it)");
  // promtool prints one `name problem` line per finding and exits 3 when there are lint findings
  // (1 for text it cannot parse). What it says is printed here, whatever it is.
  const findings = (res.stdout + res.stderr).split("\n").filter((l) => l.trim() !== "");
  t.comment(`promtool check metrics (exit ${res.status}):\n${findings.join("\n") || "(no findings)"}`);
  t.ok(res.status === 0 || res.status === 3, "the exposition parses");
  t.same(
    findings.filter((l) => l.startsWith("bintu_edge_")),
    [],
    "no finding on a bintu_edge_* name",
  );
  // prom-client's own gauges nodejs_active_{handles,requests,resources}_total carry _total (its
  // names, kept as published so stock dashboards match); any other finding would be news.
  const known = /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
  t.same(
    findings.filter((l) => !known.test(l)),
    [],
    "no finding beyond prom-client's three _total gauges",
  );
  t.equal((await encoder.exited).code, 0, "the routed edge's publisher ran to its end");
});
