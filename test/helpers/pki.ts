// A throw-away CA and server certificates made with the real `openssl` command, as an operator
// would (issue 15 §5): EC P-256 keys, the leaf for localhost / 127.0.0.1 signed by the CA, a chosen
// serial so a client can tell which certificate it was served.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const openssl = (args: string[], cwd: string) => execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });

export interface Leaf {
  cert: string;
  key: string;
  /** As tls getPeerCertificate().serialNumber shows it: upper-case hex. */
  serial: string;
}

export interface Pki {
  dir: string;
  caFile: string;
  /** A leaf signed by the CA; `days: 0` makes one whose notAfter is now (expired a second later). */
  leaf(serial: number, opts?: { days?: number }): Leaf;
  /**
   * A leaf signed by an intermediate CA that the root signed, as public CAs issue them: `cert` is
   * the leaf followed by the intermediate (certbot's fullchain.pem), `leafOnly` the leaf alone.
   */
  chainedLeaf(serial: number): Leaf & { leafOnly: string };
}

const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export function makePki(t: { teardown(fn: () => void): void }): Pki {
  const dir = mkdtempSync(join(tmpdir(), "bintu-edge-tls-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  openssl(["req", "-x509", ...KEY, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bintu-edge test CA"], dir);
  writeFileSync(join(dir, "leaf.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  return {
    dir,
    caFile: join(dir, "ca.pem"),
    leaf(serial, opts = {}) {
      const base = join(dir, `leaf-${serial.toString(16)}`);
      openssl(["req", ...KEY, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", "/CN=localhost"], dir);
      openssl(
        [
          "x509",
          "-req",
          "-in",
          `${base}.csr`,
          "-CA",
          "ca.pem",
          "-CAkey",
          "ca.key",
          "-set_serial",
          String(serial),
          "-days",
          String(opts.days ?? 1),
          "-extfile",
          "leaf.ext",
          "-out",
          `${base}.pem`,
        ],
        dir,
      );
      return { cert: `${base}.pem`, key: `${base}.key`, serial: serial.toString(16).toUpperCase() };
    },
    chainedLeaf(serial) {
      const base = join(dir, `chained-${serial.toString(16)}`);
      writeFileSync(join(dir, "intermediate.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
      openssl(["req", ...KEY, "-keyout", `${base}-ca.key`, "-out", `${base}-ca.csr`, "-subj", "/CN=bintu-edge test intermediate"], dir);
      const sign = (csr: string, caCert: string, caKey: string, ext: string, out: string, n: number) =>
        openssl(["x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-set_serial", String(n), "-days", "1", "-extfile", ext, "-out", out], dir);
      sign(`${base}-ca.csr`, "ca.pem", "ca.key", "intermediate.ext", `${base}-ca.pem`, serial + 1);
      openssl(["req", ...KEY, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", "/CN=localhost"], dir);
      sign(`${base}.csr`, `${base}-ca.pem`, `${base}-ca.key`, "leaf.ext", `${base}-leaf.pem`, serial);
      writeFileSync(`${base}-fullchain.pem`, readFileSync(`${base}-leaf.pem`, "utf8") + readFileSync(`${base}-ca.pem`, "utf8"));
      return { cert: `${base}-fullchain.pem`, leafOnly: `${base}-leaf.pem`, key: `${base}.key`, serial: serial.toString(16).toUpperCase() };
    },
  };
}
