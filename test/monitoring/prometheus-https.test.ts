// Scraping an edge that serves TLS (issue 15 with issue 17): the job of deploy/prometheus/prometheus.yml
// with its commented HTTPS lines switched on — scheme https, tls_config.ca_file — scrapes a real
// TLS edge in a real Prometheus. The job is taken from the example file, so the example is what is
// proven; only its targets and the CA's path are this test's.
import { readFileSync } from "node:fs";
import t from "tap";
import { parse, stringify } from "yaml";
import { startEdge } from "../helpers/edge.js";
import { makePki } from "../helpers/pki.js";
import { startPrometheus } from "../helpers/prometheus-server.js";
import { waitFor } from "../helpers/wait.js";

const EXAMPLE = new URL("../../deploy/prometheus/prometheus.yml", import.meta.url);

const pki = makePki(t);
const leaf = pki.leaf(0x7007);
const edge = await startEdge(t, { EDGE_TLS_CERT_FILE: leaf.cert, EDGE_TLS_KEY_FILE: leaf.key, EDGE_RTMP_TLS_PORT: "0" });

t.test("the example job with its HTTPS lines on scrapes a TLS edge", async (t) => {
  // Uncomment the three HTTPS lines of the example, as the comment tells an operator to.
  const lines = readFileSync(EXAMPLE, "utf8").split("\n");
  const https = lines.map((l) => l.replace(/^(\s*)# (scheme: https|tls_config:)$/, "$1$2").replace(/^(\s*)# ( {2}ca_file: )\S+.*$/, "$1$2" + pki.caFile));
  t.equal(https.filter((l, i) => l !== lines[i]).length, 3, "scheme, tls_config and ca_file switched on");
  type Job = { job_name: string; scheme?: string; tls_config?: { ca_file: string }; static_configs: unknown[]; file_sd_configs?: unknown };
  const job = (parse(https.join("\n")) as { scrape_configs: Job[] }).scrape_configs[0];
  t.same([job.scheme, job.tls_config], ["https", { ca_file: pki.caFile }]);
  delete job.file_sd_configs;
  job.static_configs = [{ targets: [`127.0.0.1:${edge.addresses.api.port}`] }];
  const prom = await startPrometheus(t, stringify({ global: { scrape_interval: "1s" }, scrape_configs: [job] }));
  await waitFor("the TLS edge scraped", async () => (await prom.scalar('up{job="bintu-edge"}')) === 1, 15_000);
  t.equal(await prom.scalar('up{job="bintu-edge"}'), 1, "up over HTTPS, verified against the CA");
  t.ok(((await prom.scalar("bintu_edge_tls_certificate_expiry_seconds")) ?? 0) > 86_000, "the edge's own metrics arrive (certificate expiry)");
});
