// TLS through the `bintu-edge` command (issue 15 §2, §5): a bad pair at start is a configuration
// error — exit 2 naming the key path — for check-config and for start alike; with rtmp.plain false
// only RTMPS listens, and the ready line says so.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";
import t from "tap";
import { spawnEdge } from "../helpers/edge.js";
import { handshake } from "../helpers/tls-clients.js";
import { makePki } from "../helpers/pki.js";

const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));
const cli = (args: string[], env: Record<string, string>) =>
  spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8", timeout: 20_000 });

const pki = makePki(t);
const good = pki.leaf(0x1001);
const other = pki.leaf(0x2002);
const expired = pki.leaf(0x3003, { days: 0 });
await new Promise((r) => setTimeout(r, 1100)); // `days: 0` expires at the second it was made

t.test("an expired or mismatched pair: check-config and start exit 2 naming the key path", async (t) => {
  const cases: { what: string; env: Record<string, string>; path: RegExp }[] = [
    { what: "expired", env: { EDGE_TLS_CERT_FILE: expired.cert, EDGE_TLS_KEY_FILE: expired.key }, path: /tls\.certFile: the certificate expired/ },
    { what: "mismatched", env: { EDGE_TLS_CERT_FILE: good.cert, EDGE_TLS_KEY_FILE: other.key }, path: /tls\.keyFile: does not match/ },
    { what: "key missing", env: { EDGE_TLS_CERT_FILE: good.cert }, path: /tls\.keyFile: required when tls\.certFile is set/ },
  ];
  for (const c of cases) {
    const check = cli(["check-config", "/dev/null"], c.env);
    t.equal(check.status, 2, `check-config, ${c.what}`);
    t.match(check.stderr, c.path);
    const start = cli([], { ...c.env, EDGE_DATA_DIR: t.testdir(), EDGE_RTMP_PORT: "0", EDGE_PLAYBACK_PORT: "0", EDGE_API_PORT: "0" });
    t.equal(start.status, 2, `start, ${c.what}`);
    t.match(start.stderr, c.path);
  }
  const ok = cli(["check-config", "/dev/null"], { EDGE_TLS_CERT_FILE: good.cert, EDGE_TLS_KEY_FILE: good.key });
  t.equal(ok.status, 0, ok.stderr);
});

t.test("rtmp.plain false: RTMPS only, plain RTMP refused at the TCP level", async (t) => {
  // A port that was free a moment ago, so the test knows where plain RTMP would have listened.
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
  const { addresses } = await spawnEdge(t, {
    EDGE_TLS_CERT_FILE: good.cert,
    EDGE_TLS_KEY_FILE: good.key,
    EDGE_RTMP_TLS_PORT: "0",
    EDGE_RTMP_PORT: String(port),
    EDGE_RTMP_PLAIN: "false",
  });
  t.ok(addresses.rtmps, "the ready line names the RTMPS port");
  t.equal(addresses.rtmp, addresses.rtmps, "and it comes first, as `rtmps N`");
  t.equal((await handshake(addresses.rtmps!, { rejectUnauthorized: false })).serial, good.serial, "RTMPS serves the certificate");
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => resolve("connected"));
    s.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  t.equal(refused, "ECONNREFUSED", `nothing listens on rtmp.port ${port}`);
});

t.test("both on: the ready line keeps `rtmp N` first and adds `rtmps N`", async (t) => {
  const { addresses } = await spawnEdge(t, { EDGE_TLS_CERT_FILE: good.cert, EDGE_TLS_KEY_FILE: good.key, EDGE_RTMP_TLS_PORT: "0" });
  t.ok(addresses.rtmps && addresses.rtmps !== addresses.rtmp, `rtmp ${addresses.rtmp}, rtmps ${addresses.rtmps}`);
  t.equal((await handshake(addresses.rtmps!, { ca: readFileSync(pki.caFile) })).serial, good.serial, "RTMPS verifies against the CA");
  t.equal((await handshake(addresses.api, { rejectUnauthorized: false })).serial, good.serial, "the API speaks HTTPS");
});
