// A real Prometheus scraping two edges (issue 17 §4): after a publish on each, a play, a refused
// key and a Guardian refusal, sums over both edges come out right through Prometheus's HTTP API;
// deploy/prometheus/bintu-edge.rules.yml loads in that server; stopping one edge makes
// BintuEdgeDown pending, then firing, within the short `for` this test sets. The Grafana board's
// queries are checked against the same server (deploy/grafana/, issue 17 §2).
// One Prometheus per file (scrape and rule evaluation every second), stopped by PID at the end.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { parse, stringify } from "yaml";
import { spawnEdge, startEdge } from "../helpers/edge.js";
import { play, publish } from "../helpers/ffmpeg.js";
import { parsePrometheus } from "../helpers/prometheus.js";
import { startPrometheus, type PromServer } from "../helpers/prometheus-server.js";
import { waitFor } from "../helpers/wait.js";
import { FLEET_ONLY, TLS_ONLY, dashboardExprs, exportedFamilies, forPrometheus, readDashboard } from "../helpers/grafana.js";

const RULES = new URL("../../deploy/prometheus/bintu-edge.rules.yml", import.meta.url);
const CHILD_KEY = "prometheus-test-key";
/** The test's `for`: short enough to see pending turn firing, long enough to see pending first. */
const FOR_MS = 4_000;
const FOR = `${FOR_MS / 1000}s`;

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert: string; for?: string }> }>;
}

// Edge A in this process, edge B a child (NMS keeps process-global state: one edge per process),
// each with its own data dir: registry, keys and Guardian rules are per edge, as in a real fleet.
const a = await startEdge(t);
const childDir = mkdtempSync(join(tmpdir(), "bintu-edge-prometheus-edge-"));
t.teardown(() => rmSync(childDir, { recursive: true, force: true }));
const b = await spawnEdge(t, { EDGE_DATA_DIR: childDir, EDGE_BINTU_APIKEY: CHILD_KEY });
const bApi = (path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${b.addresses.api}${path}`, {
    ...init,
    headers: { "X-BINTU-APIKEY": CHILD_KEY, "content-type": "application/json", ...init.headers },
  });
const instances = { a: `127.0.0.1:${a.addresses.api.port}`, b: `127.0.0.1:${b.addresses.api}` };

const rules = parse(readFileSync(RULES, "utf8")) as RuleFile;
const alertNames = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
for (const g of rules.groups) for (const r of g.rules) if (r.for) r.for = FOR;
const prom: PromServer = await startPrometheus(
  t,
  stringify({
    global: { scrape_interval: "1s", evaluation_interval: "1s" },
    rule_files: ["bintu-edge.rules.yml"],
    scrape_configs: [{ job_name: "bintu-edge", static_configs: [{ targets: [instances.a, instances.b] }] }],
  }),
  { "bintu-edge.rules.yml": stringify(rules) },
);

/** The first query of the board's panel with this title. */
const boardQuery = (title: string): string => {
  const target = readDashboard().panels.find((p) => p.title === title)?.targets?.[0];
  if (!target) throw new Error(`no panel ${title} on the board`);
  return target.expr;
};

/** Waits until Prometheus answers `expr` with `want` (it scrapes every second), then asserts it. */
async function expectValue(tt: Pick<Test, "equal">, expr: string, want: number, what: string): Promise<void> {
  let got: number | null = null;
  await waitFor(`${expr} == ${want}`, async () => (got = await prom.scalar(expr)) === want, 15_000).catch(() => {});
  tt.equal(got, want, `${what}: ${expr}`);
}

t.test("sums over both edges, through Prometheus's HTTP API", async (t) => {
  await expectValue(t, 'count(up{job="bintu-edge"} == 1)', 2, "both edges scraped");
  const { name: streamA } = await a.createStream();
  const created = await bApi("/stream", { method: "POST", body: "{}" });
  const streamB = ((await created.json()) as { ingest: { rtmp: { streamname: string } } }).ingest.rtmp.streamname;

  // A publish on each edge, long enough for the play and the refusals below.
  const encoders = [publish(a.rtmpUrl(streamA), { seconds: 12 }), publish(`rtmp://127.0.0.1:${b.addresses.rtmp}/live/${streamB}`, { seconds: 12 })];
  t.teardown(() => encoders.forEach((e) => e.child.kill("SIGKILL")));
  await expectValue(t, 'sum(bintu_edge_sessions{role="publisher"})', 2, "one live publisher on each edge");
  // The board's headline numbers, from its own queries, as Grafana would send them.
  await expectValue(t, forPrometheus(boardQuery("Live publishers")), 2, "board: Live publishers");
  await expectValue(t, forPrometheus(boardQuery("Edges up")), 2, "board: Edges up");
  await waitFor("ingress on the board", async () => ((await prom.scalar(forPrometheus(boardQuery("Ingress")))) ?? 0) > 100_000);
  t.pass("board: Ingress above 100 kbit/s while both encoders push");

  const player = await play(a.flvUrl(streamA), { frames: 25 }).exited;
  t.equal(player.code, 0, `a player on edge A decoded frames ${player.stderr}`);
  const refused = await publish(`rtmp://127.0.0.1:${b.addresses.rtmp}/live/NoSuch-Stream1`, { seconds: 1 }).exited;
  t.not(refused.code, 0, "an unknown key refused on edge B");
  const rule = await a.api("/guardian/referer", { method: "POST", json: { domain: "blocked.example", type: "deny" } });
  t.equal(rule.status, 200, "Guardian referrer rule on edge A");
  const blocked = await fetch(a.flvUrl(streamA), { headers: { referer: "https://blocked.example/page" } });
  t.equal(blocked.status, 403, "a player embedded on blocked.example refused by Guardian");
  await blocked.body?.cancel();

  const decisions = "bintu_edge_access_decisions_total";
  await expectValue(t, `sum(${decisions}{action="publish",result="allow"})`, 2, "two publishes allowed");
  await expectValue(t, `sum(${decisions}{action="publish",result="deny",reason="unknown_stream"})`, 1, "one key refused");
  await expectValue(t, `sum(${decisions}{action="play",result="allow"})`, 1, "one play allowed");
  await expectValue(t, `sum(${decisions}{action="play",result="deny",reason="guardian_referer"})`, 1, "one Guardian refusal");
  await expectValue(t, `sum(bintu_edge_guardian_decisions_total{result="deny"})`, 1, "counted by Guardian");
  await expectValue(t, 'count(bintu_edge_guardian_decisions_total{result="deny",kind="referer"})', 1, "as a referrer rule");
  await expectValue(t, `sum(bintu_edge_access_decision_duration_seconds_count)`, 5, "every decision timed");
  await expectValue(t, 'sum(bintu_edge_connections_closed_total{reason="unknown_stream"})', 1, "the refused publisher closed");
  await expectValue(t, "count(bintu_edge_build_info)", 2, "build info from each edge");
  await expectValue(t, 'count(sum by (instance) (bintu_edge_media_bytes_total{direction="in"}) > 10000)', 2, "media in on both edges");
  await expectValue(t, 'count(sum(bintu_edge_media_bytes_total{direction="out",protocol="flv"}) > 1000)', 1, "media out to the HTTP-FLV player");
  // The same counters read straight from each edge's /metrics add up to what Prometheus sums.
  const direct = await Promise.all([instances.a, instances.b].map(async (i) => parsePrometheus(await (await fetch(`http://${i}/metrics`)).text())));
  const allowed = direct
    .flat()
    .filter((s) => s.name === decisions && s.labels.result === "allow")
    .reduce((n, s) => n + s.value, 0);
  t.equal(allowed, 3, "the edges' own /metrics agree: 2 publishes + 1 play allowed");
  for (const e of encoders) t.equal((await e.exited).code, 0, "encoder ran to its end");
  if (process.env.BINTU_EDGE_SCREENSHOT) {
    await waitFor("both publishers gone in Prometheus", async () => (await prom.scalar('sum(bintu_edge_sessions{role="publisher"})')) === 0);
    await screenshot(process.env.BINTU_EDGE_SCREENSHOT);
  }
});

/**
 * With BINTU_EDGE_SCREENSHOT=FILE.png (and chromium installed), Prometheus's graph page for this
 * test's data is saved there: the README's picture, made from a run of this test, not by hand.
 */
async function screenshot(file: string): Promise<void> {
  const graphs = ['sum by (instance) (rate(bintu_edge_media_bytes_total{direction="in"}[5s])) * 8', "sum by (instance, role) (bintu_edge_sessions)"];
  const params = graphs.flatMap((expr, i) => [`g${i}.expr=${encodeURIComponent(expr)}`, `g${i}.tab=0`, `g${i}.range_input=30s`]);
  const page = `${prom.url}/graph?${params.join("&")}`;
  const res = spawnSync(
    "chromium",
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--hide-scrollbars",
      "--window-size=1280,1560",
      "--virtual-time-budget=10000",
      `--screenshot=${file}`,
      page,
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
  if (res.status !== 0) throw new Error(`chromium: ${res.error?.message ?? res.stderr}`);
}

t.test("the alert rules load in the server", async (t) => {
  const data = await prom.api<{ groups: Array<{ rules: Array<{ name: string; type: string; health: string; lastError?: string }> }> }>("/api/v1/rules");
  const loaded = data.groups.flatMap((g) => g.rules);
  t.same(loaded.map((r) => r.name).sort(), [...alertNames].sort(), "every alert of deploy/prometheus/bintu-edge.rules.yml");
  // A rule is "unknown" until its first evaluation (every second here).
  await waitFor("every rule evaluated", async () => {
    const again = await prom.api<{ groups: Array<{ rules: Array<{ health: string }> }> }>("/api/v1/rules");
    return again.groups.flatMap((g) => g.rules).every((r) => r.health !== "unknown");
  });
  const now = (await prom.api<{ groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> }>("/api/v1/rules")).groups.flatMap(
    (g) => g.rules,
  );
  t.same(
    now.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.lastError}`),
    [],
    "every rule evaluates without error",
  );
  const firing = await prom.api<{ alerts: Array<{ labels: Record<string, string> }> }>("/api/v1/alerts");
  t.same(
    firing.alerts.map((x) => x.labels.alertname),
    [],
    "nothing alerts while both edges are healthy",
  );
});

t.test("every query of the Grafana board names exported metrics and runs in Prometheus", async (t) => {
  // Families as each edge declares them (# TYPE). These are plain edges: the fleet's and TLS's own
  // families are checked against a fleet edge and a TLS edge (FLEET_ONLY, TLS_ONLY).
  const exported = new Set<string>();
  for (const i of [instances.a, instances.b]) for (const name of exportedFamilies(await (await fetch(`http://${i}/metrics`)).text())) exported.add(name);
  exported.add("up"); // written by Prometheus for every target
  const exprs = dashboardExprs();
  t.ok(exprs.length >= 15, `${exprs.length} queries on the board`);
  for (const { panel, expr, metrics } of exprs) {
    t.same(
      metrics.filter((m) => !exported.has(m) && !FLEET_ONLY.test(m) && !TLS_ONLY.test(m)),
      [],
      `${panel}: every metric is exported (${metrics.join(", ")})`,
    );
    const result = await prom.query(forPrometheus(expr)).then(
      (r) => r,
      (err: Error) => err,
    );
    t.notOk(result instanceof Error, `${panel}: Prometheus accepts ${expr}${result instanceof Error ? ` — ${result.message}` : ""}`);
  }
});

t.test("stopping one edge makes BintuEdgeDown pending, then firing", async (t) => {
  b.child.kill("SIGTERM");
  const stopped = Date.now();
  const alertState = async () => {
    const { alerts } = await prom.api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>("/api/v1/alerts");
    return alerts.find((x) => x.labels.alertname === "BintuEdgeDown" && x.labels.instance === instances.b)?.state;
  };
  await waitFor("BintuEdgeDown pending for edge B", async () => (await alertState()) === "pending", 10_000);
  const pendingAfter = Date.now() - stopped;
  // Issue 17 §4: pending within its `for` (about 1 s here: one scrape and one evaluation).
  t.ok(pendingAfter < FOR_MS, `pending ${pendingAfter} ms after the stop, within its for (${FOR})`);
  await waitFor("BintuEdgeDown firing for edge B", async () => (await alertState()) === "firing", 15_000);
  t.ok(Date.now() - stopped >= FOR_MS, `firing only after its for: ${FOR}`);
  t.equal(await prom.scalar(`up{instance="${instances.a}"}`), 1, "edge A still up");
  const { alerts } = await prom.api<{ alerts: Array<{ labels: Record<string, string> }> }>("/api/v1/alerts");
  t.same(
    alerts.map((x) => `${x.labels.alertname} ${x.labels.instance}`),
    [`BintuEdgeDown ${instances.b}`],
    "the only alert",
  );
});
