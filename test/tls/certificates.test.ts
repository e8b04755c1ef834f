// The certificate pair on its own and in the config loader (issue 15 §1-2): what is refused at
// which key path, and reloads — in place, by rename, by symlink swap — with a bad new pair kept out.
import { copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import t from "tap";
import { ConfigError, loadConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { TlsCertificates, TlsPairError, loadTlsPair, type TlsPair } from "../../src/tls/certificates.js";
import { waitFor } from "../helpers/wait.js";
import { makePki } from "../helpers/pki.js";
import { handshake } from "../helpers/tls-clients.js";

const pki = makePki(t);
const good = pki.leaf(0x1001);
const other = pki.leaf(0x2002);
const expired = pki.leaf(0x3003, { days: 0 });
await new Promise((r) => setTimeout(r, 1100)); // `days: 0` expires at the second it was made

function issues(env: Record<string, string>): { path: string; reason: string }[] {
  try {
    loadConfig({ env });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

t.test("a good pair: serial, expiry, TLS 1.2 at least", async (t) => {
  const pair = loadTlsPair({ certFile: good.cert, keyFile: good.key });
  t.equal(pair.serial, good.serial);
  t.ok(pair.notAfter.getTime() > Date.now() + 3600_000, "valid for about a day");
  t.equal(pair.options.minVersion, "TLSv1.2");
});

t.test("a certificate file holding its chain (fullchain.pem): the leaf is the pair's, the chain is served", async (t) => {
  const chained = pki.chainedLeaf(0x4004);
  const ca = readFileSync(pki.caFile, "utf8");
  const served = async (certFile: string) => {
    const pair = loadTlsPair({ certFile, keyFile: chained.key });
    const server = tls.createServer(pair.options, (s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.teardown(() => server.close());
    return { pair, answer: await handshake((server.address() as AddressInfo).port, { ca }) };
  };
  const full = await served(chained.cert);
  t.equal(full.pair.serial, chained.serial, "the first certificate of the file is the server's own");
  t.equal(full.answer.serial, chained.serial, "a client trusting only the root verifies the served chain");
  // The check can fail: without the intermediate in the file, the same client cannot verify.
  t.equal((await served(chained.leafOnly)).answer.error, "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "control: the leaf alone is refused");
});

t.test("refusals name the key path at fault", async (t) => {
  const refused = (certFile: string, keyFile: string) => {
    try {
      loadTlsPair({ certFile, keyFile });
    } catch (err) {
      if (err instanceof TlsPairError) return `${err.key}: ${err.message}`;
      throw err;
    }
    return "accepted";
  };
  t.match(refused(good.cert, other.key), /^tls\.keyFile: does not match the certificate/);
  t.match(refused(expired.cert, expired.key), /^tls\.certFile: the certificate expired at /);
  t.match(refused(join(pki.dir, "missing.pem"), good.key), /^tls\.certFile: cannot read .*ENOENT/);
  t.match(refused(good.cert, join(pki.dir, "missing.key")), /^tls\.keyFile: cannot read .*ENOENT/);
  t.match(refused(good.key, good.key), /^tls\.certFile: not a PEM certificate/);
  t.match(refused(good.cert, good.cert), /^tls\.keyFile: not a PEM private key/);
});

t.test("config: check-config judges the pair as start-up does", async (t) => {
  t.same(issues({ EDGE_TLS_CERT_FILE: good.cert, EDGE_TLS_KEY_FILE: good.key }), [], "a good pair");
  const c = loadConfig({ env: { EDGE_TLS_CERT_FILE: good.cert, EDGE_TLS_KEY_FILE: good.key, EDGE_RTMP_TLS_PORT: "0" } });
  t.equal(c.rtmp.tlsPort, 0);
  t.equal(c.rtmp.plain, true, "plain RTMP stays on by default");
  t.equal(loadConfig({}).rtmp.tlsPort, 1936);
  t.same(issues({ EDGE_TLS_CERT_FILE: good.cert }), [{ path: "tls.keyFile", reason: "required when tls.certFile is set" }]);
  t.same(issues({ EDGE_TLS_KEY_FILE: good.key }), [{ path: "tls.certFile", reason: "required when tls.keyFile is set" }]);
  t.match(issues({ EDGE_TLS_CERT_FILE: good.cert, EDGE_TLS_KEY_FILE: other.key }), [{ path: "tls.keyFile", reason: /does not match/ }]);
  t.match(issues({ EDGE_TLS_CERT_FILE: expired.cert, EDGE_TLS_KEY_FILE: expired.key }), [{ path: "tls.certFile", reason: /expired/ }]);
  t.match(issues({ EDGE_TLS_CA_FILE: good.key }), [{ path: "tls.caFile", reason: /no PEM certificate/ }]);
  t.same(issues({ EDGE_TLS_CA_FILE: pki.caFile }), [], "a CA file alone is fine (outbound only)");
  t.same(issues({ EDGE_RTMP_PLAIN: "false" }), [{ path: "rtmp.plain", reason: "false needs tls.certFile and tls.keyFile (else no RTMP is served at all)" }]);
  t.same(issues({ EDGE_TLS_CERT_FILE: good.cert, EDGE_TLS_KEY_FILE: good.key, EDGE_RTMP_TLS_PORT: "1935" }), [
    { path: "rtmp.tlsPort", reason: "must differ from rtmp.port on the same host (1935)" },
  ]);
  t.same(issues({ EDGE_RTMP_TLS_PORT: "1935" }), [], "the RTMPS port is not bound without TLS, so it clashes with nothing");
});

t.test("reload: in place, rename and symlink swap; a bad pair keeps the one in force", async (t) => {
  const dir = join(pki.dir, "live");
  mkdirSync(dir);
  const certFile = join(dir, "fullchain.pem");
  const keyFile = join(dir, "privkey.pem");
  // certbot's layout: live/ holds symlinks into archive/.
  symlinkSync(good.cert, certFile);
  symlinkSync(good.key, keyFile);
  const results: string[] = [];
  const changed: TlsPair[] = [];
  const logged: string[] = [];
  const log = createLogger("warn", (line) => logged.push(line));
  const certs = new TlsCertificates({ certFile, keyFile }, { log, onReload: (r) => results.push(r), pollMs: 50, debounceMs: 30 });
  t.teardown(() => certs.close());
  certs.onChange((p) => changed.push(p));
  t.equal(certs.current.serial, good.serial);

  const swap = (link: string, target: string) => {
    const tmp = link + ".new";
    symlinkSync(target, tmp);
    renameSync(tmp, link);
  };
  // A half rotation (new key, old certificate) is refused and counted once; the old pair serves on.
  swap(keyFile, other.key);
  await waitFor("the refused half rotation", () => results.length === 1, 5000);
  t.same(results, ["error"]);
  t.equal(certs.current.serial, good.serial, "the pair in force stays");
  t.equal(logged.length, 1, "the refusal is logged once");
  t.match(
    logged[0],
    /warn tls certificate reload refused; the pair in force stays serial=1001 detail="tls\.keyFile: does not match the certificate/,
    logged[0],
  );
  swap(certFile, other.cert);
  await waitFor("the symlink swap", () => changed.length === 1, 5000);
  t.equal(certs.current.serial, other.serial, "symlink swap: the new pair is in force");
  t.same(results, ["error", "ok"]);

  // Rename over the link (editors, `mv new old`), then an in-place write.
  unlinkSync(certFile);
  unlinkSync(keyFile);
  copyFileSync(good.key, keyFile);
  copyFileSync(good.cert, certFile + ".tmp");
  renameSync(certFile + ".tmp", certFile);
  await waitFor("the rename", () => changed.length === 2, 5000);
  t.equal(certs.current.serial, good.serial, "rename");
  writeFileSync(certFile, readFileSync(other.cert));
  writeFileSync(keyFile, readFileSync(other.key));
  await waitFor("the in-place write", () => changed.length === 3, 5000);
  t.equal(certs.current.serial, other.serial, "in-place write");

  // An expired certificate is a bad pair too.
  const before = results.length;
  writeFileSync(certFile, readFileSync(expired.cert));
  writeFileSync(keyFile, readFileSync(expired.key));
  await waitFor("the expired pair", () => results.length > before && results.at(-1) === "error", 5000);
  t.equal(certs.current.serial, other.serial, "expired: kept out");
  t.equal(changed.length, 3, "listeners are told of good pairs only");
});
