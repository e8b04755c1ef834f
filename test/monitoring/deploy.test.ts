// deploy/ without a running server (issue 17 §1, §2): promtool accepts the example config and the
// alert rules, and the rules' unit tests pass; every alert has a unit test and says what to look
// at; the Grafana board is importable (the data source is the DS_PROMETHEUS variable everywhere,
// ids unique) and every query names a metric family the edge or Prometheus writes.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { parse } from "yaml";
import { dashboardExprs, metricNames, readDashboard } from "../helpers/grafana.js";

const DIR = fileURLToPath(new URL("../../deploy/prometheus/", import.meta.url));

const promtool = (...args: string[]) => {
  const res = spawnSync("promtool", args, { cwd: DIR, encoding: "utf8", timeout: 30_000 });
  return { code: res.status, out: `${res.stdout}${res.stderr}`, error: res.error };
};

t.test("promtool: config, rules and the rules' unit tests", async (t) => {
  const config = promtool("check", "config", "prometheus.yml");
  t.equal(config.error, undefined, "promtool runs (scripts/install-test-deps.sh installs it)");
  t.equal(config.code, 0, `check config:\n${config.out}`);
  const rules = promtool("check", "rules", "bintu-edge.rules.yml");
  t.equal(rules.code, 0, `check rules:\n${rules.out}`);
  const defined = (parse(readFileSync(`${DIR}/bintu-edge.rules.yml`, "utf8")) as { groups: Array<{ rules: unknown[] }> }).groups.flatMap((g) => g.rules).length;
  t.match(rules.out, new RegExp(`SUCCESS: ${defined} rules found`), "promtool read every rule of the file");
  const tests = promtool("test", "rules", "bintu-edge.rules.test.yml");
  t.equal(tests.code, 0, `test rules:\n${tests.out}`);
});

t.test("every alert is unit-tested and says what to look at", async (t) => {
  type Rule = { alert: string; labels: { severity: string }; annotations: { summary: string; description: string } };
  const rules = (parse(readFileSync(`${DIR}/bintu-edge.rules.yml`, "utf8")) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
  const tests = parse(readFileSync(`${DIR}/bintu-edge.rules.test.yml`, "utf8")) as {
    tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
  };
  const fired = new Set(tests.tests.flatMap((x) => x.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  for (const r of rules) {
    t.ok(fired.has(r.alert), `${r.alert}: a unit test that fires it`);
    t.match(r.labels.severity, /^(critical|warning|info)$/, `${r.alert}: severity`);
    t.ok(r.annotations.summary.includes("$labels.instance"), `${r.alert}: the summary names the edge`);
    t.match(r.annotations.description, /look at/i, `${r.alert}: the description says what to look at`);
  }
});

t.test("the Grafana board is importable and its queries name known families", async (t) => {
  const board = readDashboard();
  t.equal(board.uid, "bintu-edge");
  const ds = board.templating.list.find((v) => v.name === "DS_PROMETHEUS");
  t.same(ds && { type: ds.type, query: ds.query }, { type: "datasource", query: "prometheus" }, "the data source is a variable");
  const ids = board.panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, "panel ids are unique");
  for (const p of board.panels.filter((p) => p.type !== "row")) {
    t.same(p.datasource, { type: "prometheus", uid: "${DS_PROMETHEUS}" }, `${p.title}: data source variable`);
    t.ok(p.targets && p.targets.length > 0, `${p.title}: has a query`);
    for (const q of p.targets ?? []) t.same(q.datasource, p.datasource, `${p.title} ${q.refId}: same data source`);
    t.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title}: fits the 24-column grid`);
  }
  // The titles the issue lists (issue 17 §2).
  const titles = board.panels.map((p) => p.title);
  for (const want of [
    "Live publishers",
    "Live players",
    "Ingress",
    "Egress",
    "Decisions by result and reason",
    "bintu lookup latency (cache misses)",
    "Cache hit ratio",
    "Guardian refusals by rule kind",
    "Token refusals by reason",
    "Route answers by reason",
    "Load ratio per routed edge",
    "Resident memory",
    "Event loop lag p99",
  ])
    t.ok(titles.includes(want), `panel ${want}`);
  // Offline, only the families' prefixes; the live check is in prometheus.test.ts.
  for (const { panel, metrics } of dashboardExprs()) {
    t.ok(metrics.length > 0, `${panel}: names a metric`);
    t.same(
      metrics.filter((m) => !/^(bintu_edge_|process_|nodejs_)/.test(m) && m !== "up"),
      [],
      `${panel}: only edge and Prometheus families`,
    );
  }
  t.same(metricNames('sum(rate(bintu_edge_x_total{a="b{c"}[5m])) / up{job="j"}'), ["bintu_edge_x_total", "up"], "the name reader");
});
