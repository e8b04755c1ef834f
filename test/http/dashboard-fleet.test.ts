// The dashboard on a fleet edge (issue 16 §7, §4 with issue 12), in Debian's chromium: a real
// redis-server, this edge in-process and a second as a child process, both announcing themselves.
// The Edges page lists the fleet (the router's table merges the registry), an admin drains and
// undrains the other edge from it, a read-only key gets no drain control; the Sessions page shows
// a publisher's key owner; a rule's enforceOnActive reaches the other edge. The single-edge page (no fleet columns, no drain) is in dashboard.test.ts.
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { chromium } from "playwright-core";
import { spawnEdge, startEdge } from "../helpers/edge.js";
import { publish } from "../helpers/ffmpeg.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

const SHOTS = fileURLToPath(new URL("../../test-output/dashboard/", import.meta.url));
const KEY = "dashboard-fleet-test-key-0123456789";

type EdgeRow = { id: string; region: string; drain: boolean; announced: boolean; load: { sessions: number } | null };

t.test("the fleet on the Edges and Sessions pages", async (t) => {
  mkdirSync(SHOTS, { recursive: true });
  const redis = await startRedis(t);
  const fleet = (id: string, region: string, lat: number, lon: number) => ({
    EDGE_CLUSTER_REDIS_URL: redis.url,
    EDGE_CLUSTER_EDGE_ID: id,
    EDGE_CLUSTER_ANNOUNCE_REGION: region,
    EDGE_CLUSTER_ANNOUNCE_LAT: String(lat),
    EDGE_CLUSTER_ANNOUNCE_LON: String(lon),
    EDGE_PUBLIC_HOST: "127.0.0.1",
    EDGE_BINTU_APIKEY: KEY,
  });
  const [a, b] = await Promise.all([startEdge(t, fleet("fra-1", "eu-central", 50.1, 8.7)), spawnEdge(t, fleet("nyc-1", "us-east", 40.7, -74))]);
  const edges = async () => (await (await a.api("/v1/edges")).json()) as EdgeRow[];
  await waitFor("both edges announced", async () => (await edges()).filter((e) => e.announced).length === 2, 10_000);
  t.match(await (await a.api("/v1/dashboard/info")).json(), { fleet: { edgeId: "fra-1" } });
  t.match(
    (await edges()).find((e) => e.id === "nyc-1"),
    { region: "us-east", drain: false, announced: true, load: { sessions: 0 } },
    "/v1/edges carries the registry's edges",
  );

  // A rule's own enforceOnActive rides in the fleet's rule record: the other edge lists it too.
  const rule = await a.api("/guardian/ip", { method: "POST", json: { ip: "192.0.2.0/24", type: "deny", enforceOnActive: true } });
  const { id } = (await rule.json()) as { id: string };
  await waitFor(
    "the rule on nyc-1, flag included",
    async () => {
      const res = await fetch(`http://127.0.0.1:${b.addresses.api}/guardian/ip`, { headers: { "X-BINTU-APIKEY": KEY } });
      return ((await res.json()) as { id: string; enforceOnActive: boolean }[]).some((r) => r.id === id && r.enforceOnActive);
    },
    3_000,
  );

  const { name } = await a.createStream();
  const encoder = publish(a.rtmpUrl(name), { seconds: 40, size: "160x120" });
  t.teardown(() => encoder.child.kill("SIGKILL"));

  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  const base = `http://127.0.0.1:${a.addresses.api.port}`;
  const signIn = async (key: string) => {
    await page.goto(`${base}/dashboard/`);
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
  };

  await signIn(KEY);
  await page.getByRole("link", { name: "Edges" }).click();
  await page.getByText("This edge is fra-1 in a fleet.").waitFor();
  const nyc = page.getByRole("row").filter({ hasText: "nyc-1" });
  t.match(await nyc.textContent(), /^nyc-1us-eastannouncedup0/, "the other edge: region, source, health, sessions");
  t.match(await page.getByRole("row").filter({ hasText: "fra-1" }).textContent(), /^fra-1 \(this edge\)eu-central/);

  await page.getByRole("button", { name: "Drain nyc-1" }).click();
  await page.getByText("nyc-1 drains").waitFor();
  await nyc.getByText("draining").waitFor({ timeout: 8_000 });
  t.ok((await edges()).find((e) => e.id === "nyc-1")?.drain, "the router's table has the drain flag");
  await page.screenshot({ path: `${SHOTS}edges-fleet-desktop.png`, fullPage: true });
  await page.getByRole("button", { name: "Undrain nyc-1" }).click();
  await page.getByRole("button", { name: "Drain nyc-1" }).waitFor({ timeout: 8_000 });
  t.notOk((await edges()).find((e) => e.id === "nyc-1")?.drain, "undrained");

  await waitFor(
    "the publisher's claim confirmed",
    async () => {
      const sessions = (await (await a.api("/v1/sessions")).json()) as { role: string; owner?: string | null }[];
      return sessions.some((s) => s.role === "publisher" && s.owner === "fra-1");
    },
    10_000,
  );
  await page.getByRole("link", { name: "Sessions" }).click();
  const publisher = page.getByRole("row").filter({ hasText: "publisher" });
  await publisher.waitFor();
  t.equal(await page.getByRole("columnheader").nth(7).textContent(), "Owner");
  t.equal(await publisher.getByRole("cell").nth(7).textContent(), "fra-1", "the publisher's key owner");
  await page.screenshot({ path: `${SHOTS}sessions-fleet-desktop.png`, fullPage: true });

  const created = await a.api("/v1/keys", { method: "POST", json: { role: "nanoReadOnly", label: "watcher" } });
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(((await created.json()) as { key: string }).key);
  await page.getByRole("link", { name: "Edges" }).click();
  await nyc.waitFor();
  t.equal(await page.getByRole("button", { name: /^(Drain|Undrain) / }).count(), 0, "a read-only key gets no drain control");
  t.same(errors, [], "no script error on the page");
});
