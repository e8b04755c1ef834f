// The `bintu-edge` command as an operator runs it: exit codes, messages, signals (issue 2 §2, §7).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { spawnEdge } from "./helpers/edge.js";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8", timeout: 20_000 });

t.test("check-config validates without starting", async (t) => {
  const dir = t.testdir({
    "good.yaml": "rtmp:\n  port: 1936\nplayback:\n  endGraceMs: 500\n",
    "bad.yaml": "rtmp:\n  port: 70000\n  limits:\n    maxChunkStreams: 2\napi:\n  trustProxy: [not-a-cidr]\nbogus: 1\n",
    "broken.yaml": "rtmp: [\n",
  });
  const good = cli(["check-config", join(dir, "good.yaml")]);
  t.equal(good.status, 0, good.stderr);
  t.match(good.stdout, /configuration is valid/);

  const bad = cli(["check-config", join(dir, "bad.yaml")]);
  t.equal(bad.status, 2);
  for (const path of ["rtmp.port", "rtmp.limits.maxChunkStreams", "api.trustProxy.0", "bogus"]) t.match(bad.stderr, path, `names ${path}`);

  t.equal(cli(["check-config", join(dir, "broken.yaml")]).status, 2, "YAML syntax error");
  const envBad = cli(["check-config", join(dir, "good.yaml")], { EDGE_API_PORT: "eighty" });
  t.equal(envBad.status, 2, "env values are checked too");
  t.match(envBad.stderr, /api\.port/);
  t.equal(cli(["--nonsense"]).status, 2, "unknown arguments are a usage error");
});

t.test("a bad config stops start-up with exit 2 before anything listens", async (t) => {
  const res = cli([], { EDGE_DATA_DIR: t.testdir(), EDGE_RTMP_LIMITS_MAX_MESSAGE_SIZE: "10" });
  t.equal(res.status, 2);
  t.match(res.stderr, /rtmp\.limits\.maxMessageSize/);
});

// Issue 11 §4: check-config and start-up parse CIDRs with one parser. A network with host bits
// used to pass check-config, then stop start-up with exit 1 (geo.overrides) or be silently widened
// (api.trustProxy); now both paths refuse it as a config error, exit 2, at its key path.
t.test("a CIDR with host bits is a config error on check-config and on start", async (t) => {
  const dir = t.testdir({
    "hostbits.yaml": "api:\n  trustProxy: [10.1.2.3/8]\ngeo:\n  overrides:\n    - { cidr: 192.168.1.7/16, region: lan }\n",
  });
  const checked = cli(["check-config", join(dir, "hostbits.yaml")]);
  t.equal(checked.status, 2, checked.stderr);
  t.match(checked.stderr, "api.trustProxy.0: '10.1.2.3/8': host bits set; the network is 10.0.0.0/8");
  t.match(checked.stderr, "geo.overrides.0.cidr: '192.168.1.7/16': host bits set; the network is 192.168.0.0/16");
  const started = cli(["--config", join(dir, "hostbits.yaml")], { EDGE_DATA_DIR: join(dir, "data") });
  t.equal(started.status, 2, "start refuses it as a config error, before anything listens");
  t.match(started.stderr, /api\.trustProxy\.0: .*host bits set/);
  const env = cli([], { EDGE_DATA_DIR: join(dir, "data"), EDGE_GEO_OVERRIDES: JSON.stringify([{ cidr: "10.1.2.3/8" }]) });
  t.equal(env.status, 2, "from env too (was exit 1: refused by the geo table at start-up)");
  t.match(env.stderr, /geo\.overrides\.0\.cidr: '10\.1\.2\.3\/8': host bits set/);
});

t.test("a port in use is a clear start-up error naming the key", async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  t.teardown(() => blocker.close());
  const port = String((blocker.address() as net.AddressInfo).port);
  const res = cli([], {
    EDGE_DATA_DIR: t.testdir(),
    EDGE_RTMP_HOST: "127.0.0.1",
    EDGE_RTMP_PORT: "0",
    EDGE_PLAYBACK_HOST: "127.0.0.1",
    EDGE_PLAYBACK_PORT: port,
    EDGE_API_PORT: "0",
  });
  t.equal(res.status, 1);
  t.match(res.stderr, new RegExp(`playback\\.port: cannot listen on 127\\.0\\.0\\.1:${port}: address already in use`));
});

t.test("first start generates the API key (0600) and prints it once; SIGTERM closes within 5 s", async (t) => {
  const dataDir = t.testdir();
  const first = await spawnEdge(t, { EDGE_DATA_DIR: dataDir });
  const key = readFileSync(join(dataDir, "bintu-apikey"), "utf8").trim();
  t.equal(statSync(join(dataDir, "bintu-apikey")).mode & 0o777, 0o600);
  const res = await fetch(`http://127.0.0.1:${first.addresses.api}/stream`, { headers: { "X-BINTU-APIKEY": key } });
  t.equal(res.status, 200, "the stored key is the one the registry accepts");

  const stoppedAt = Date.now();
  first.child.kill("SIGTERM");
  const code = await new Promise((r) => first.child.once("exit", r));
  t.equal(code, 0);
  t.ok(Date.now() - stoppedAt < 5_000, "closed within 5 s");

  let out = "";
  const again = spawn(process.execPath, [CLI], {
    env: { ...process.env, EDGE_DATA_DIR: dataDir, EDGE_RTMP_PORT: "0", EDGE_PLAYBACK_PORT: "0", EDGE_API_PORT: "0", EDGE_LOG_LEVEL: "silent" },
  });
  t.teardown(() => again.exitCode === null && again.kill("SIGKILL"));
  again.stdout.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise<void>((r) => again.stdout.on("data", () => /ready/.test(out) && r()));
  t.notMatch(out, key, "the key is printed only on the start that generated it");
  again.kill("SIGINT");
  t.equal(await new Promise((r) => again.once("exit", r)), 0, "SIGINT too");
});

t.test("a configured key wins and no key file is written", async (t) => {
  const dataDir = t.testdir();
  const edge = await spawnEdge(t, { EDGE_DATA_DIR: dataDir, EDGE_BINTU_APIKEY: "configured-key-0123456789" });
  const url = `http://127.0.0.1:${edge.addresses.api}/stream`;
  t.equal((await fetch(url, { headers: { "X-BINTU-APIKEY": "configured-key-0123456789" } })).status, 200);
  t.equal((await fetch(url, { headers: { "X-BINTU-APIKEY": "x" } })).status, 401, "any other key is refused");
  t.notOk(existsSync(join(dataDir, "bintu-apikey")));
  edge.child.kill("SIGTERM");
  await new Promise((r) => edge.child.once("exit", r));
});
