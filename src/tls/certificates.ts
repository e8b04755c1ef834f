// The edge's TLS certificate and key (issue 15): read and checked as a pair, turned into the
// options every TLS listener takes, and reloaded when either file changes (certbot renewals swap a
// symlink, Kubernetes swaps `..data`, an operator writes in place — src/util/watched-file.ts sees
// all three). A good new pair replaces the old one for new connections only: a running TLS
// session keeps the context it was accepted with. A bad new pair (half-written, key of another
// certificate, expired) keeps the old one in force, is logged and counted.
//
// The same checks run in the config loader (src/config/load.ts), so `bintu-edge check-config`
// refuses exactly the pairs start-up refuses, naming the key path.
import { X509Certificate, constants, createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import tls from "node:tls";
import type { Logger } from "../log.js";
import { WatchedFile } from "../util/watched-file.js";

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** Options for tls.createServer / https.createServer / server.setSecureContext. */
export interface TlsServerOptions {
  readonly cert: string;
  readonly key: string;
  /** TLS 1.2 and 1.3 only (issue 15 §3); Node's default cipher list is kept. */
  readonly minVersion: "TLSv1.2";
  /**
   * SSL_OP_NO_RENEGOTIATION: OpenSSL itself refuses a TLS 1.2 client's renegotiation (issue 15 §3).
   * Node's disableRenegotiation() only reports the attempt, and on the RTMPS port's TLSSocket (not
   * owned by a tls.Server) not even as an "error": the renegotiation completed there, found by
   * test/tls/edge.test.ts.
   */
  readonly secureOptions: number;
}

/** A checked pair: what listeners need, and what operators and metrics want to know about it. */
export interface TlsPair {
  readonly options: TlsServerOptions;
  readonly context: tls.SecureContext;
  readonly notAfter: Date;
  /** Hex, as tls getPeerCertificate().serialNumber shows it. */
  readonly serial: string;
  readonly subject: string;
}

/** A pair that cannot be used, with the config key at fault. */
export class TlsPairError extends Error {
  override name = "TlsPairError";
  constructor(
    readonly key: "tls.certFile" | "tls.keyFile",
    message: string,
  ) {
    super(message);
  }
}

function read(key: "tls.certFile" | "tls.keyFile", file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new TlsPairError(key, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Checks PEM texts as a pair; `now` decides expiry. Throws TlsPairError. */
export function checkTlsPair(cert: string, key: string, now = Date.now()): TlsPair {
  let x509: X509Certificate;
  try {
    // The first certificate of the file is the server's own; the rest is its chain.
    x509 = new X509Certificate(cert);
  } catch {
    throw new TlsPairError("tls.certFile", "not a PEM certificate");
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    const encrypted = /passphrase/i.test((err as Error).message);
    throw new TlsPairError("tls.keyFile", encrypted ? "an encrypted private key (a passphrase cannot be configured)" : "not a PEM private key");
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsPairError("tls.keyFile", `does not match the certificate in tls.certFile (${x509.subject.replaceAll("\n", ", ")})`);
  }
  const notAfter = new Date(x509.validTo);
  if (notAfter.getTime() <= now) throw new TlsPairError("tls.certFile", `the certificate expired at ${notAfter.toISOString()}`);
  const options: TlsServerOptions = { cert, key, minVersion: "TLSv1.2", secureOptions: constants.SSL_OP_NO_RENEGOTIATION };
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext(options);
  } catch (err) {
    throw new TlsPairError("tls.certFile", `unusable with its key: ${(err as Error).message}`);
  }
  return { options, context, notAfter, serial: x509.serialNumber, subject: x509.subject.replaceAll("\n", ", ") };
}

/** Reads and checks the pair named by the files. Throws TlsPairError. */
export function loadTlsPair(files: TlsFiles, now = Date.now()): TlsPair {
  // Both files are read before either is judged, so a missing key is reported as the key's fault.
  const cert = read("tls.certFile", files.certFile);
  const key = read("tls.keyFile", files.keyFile);
  return checkTlsPair(cert, key, now);
}

/** CA certificates in PEM, for verifying other edges and bintu (tls.caFile). Throws with a reason. */
export function loadCaFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new Error(`no PEM certificate in ${file}`);
  pems.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch {
      throw new Error(`certificate ${i + 1} of ${file} cannot be parsed`);
    }
  });
  return pems;
}

export type TlsReloadResult = "ok" | "error";

export interface TlsCertificatesOptions {
  readonly log: Logger;
  /** Every reload attempt of a changed pair. */
  readonly onReload?: (result: TlsReloadResult) => void;
  readonly pollMs?: number;
  readonly debounceMs?: number;
}

/** The pair in force, swapped when the files change to a good new pair. */
export class TlsCertificates {
  private pair: TlsPair;
  private readonly watchers: WatchedFile[];
  private readonly listeners: ((pair: TlsPair) => void)[] = [];
  /** Texts of the pair in force and of the last refused one: an unchanged file is not re-judged. */
  private seen: string;
  private refused = "";

  /** Throws TlsPairError when the pair at start is unusable. */
  constructor(
    private readonly files: TlsFiles,
    private readonly opts: TlsCertificatesOptions,
  ) {
    this.pair = loadTlsPair(files);
    this.seen = this.pair.options.cert + "\0" + this.pair.options.key;
    const watch = (path: string) => new WatchedFile({ path, onChange: () => this.reload(), pollMs: opts.pollMs, debounceMs: opts.debounceMs });
    this.watchers = [watch(files.certFile), watch(files.keyFile)];
  }

  get current(): TlsPair {
    return this.pair;
  }

  /** Called with each new pair put in force (listeners swap their servers' contexts). */
  onChange(listener: (pair: TlsPair) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    for (const w of this.watchers) w.close();
  }

  private reload(): void {
    let cert: string, key: string;
    try {
      cert = readFileSync(this.files.certFile, "utf8");
      key = readFileSync(this.files.keyFile, "utf8");
    } catch (err) {
      return this.refuse("", (err as Error).message);
    }
    const texts = cert + "\0" + key;
    if (texts === this.seen || texts === this.refused) return;
    let next: TlsPair;
    try {
      next = checkTlsPair(cert, key);
    } catch (err) {
      return this.refuse(texts, `${(err as TlsPairError).key}: ${(err as Error).message}`);
    }
    this.pair = next;
    this.seen = texts;
    this.refused = "";
    this.opts.onReload?.("ok");
    this.opts.log.info("tls certificate reloaded", { serial: next.serial, notAfter: next.notAfter.toISOString() });
    for (const listener of this.listeners) listener(next);
  }

  private refuse(texts: string, detail: string): void {
    // A file caught between two writes of a rotation is refused too; the next write retries.
    if (texts !== "" && texts === this.refused) return;
    this.refused = texts;
    this.opts.onReload?.("error");
    this.opts.log.warn("tls certificate reload refused; the pair in force stays", { serial: this.pair.serial, detail });
  }
}
