// TLS clients for the tests: HTTPS requests and streams that trust the test CA, and a bare
// handshake that reports which certificate the server presented.
import https from "node:https";
import type { IncomingMessage } from "node:http";
import tls from "node:tls";

export interface HttpsAnswer {
  status: number;
  text: string;
}

/** One HTTPS request, verifying the server against `ca` (and its name, 127.0.0.1 in the SAN). */
export function httpsRequest(url: string, ca: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? "GET", headers: init.headers, ca, timeout: 10_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timeout: ${url}`)));
    req.on("error", reject);
    req.end(init.body);
  });
}

/** An HTTPS-FLV player that only counts the bytes it reads. */
export function flvReader(url: string, ca: string): Promise<{ res: IncomingMessage; bytes: () => number; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca }, (res) => {
      let bytes = 0;
      res.on("data", (d: Buffer) => (bytes += d.length));
      res.on("error", () => {});
      resolve({ res, bytes: () => bytes, close: () => req.destroy() });
    });
    req.on("error", reject);
  });
}

/**
 * A TLS handshake with the given options; resolves with the server certificate's serial, or the
 * error that ended the handshake.
 */
export function handshake(port: number, opts: tls.ConnectionOptions = {}): Promise<{ serial?: string; protocol?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ...opts });
    socket.setTimeout(10_000, () => socket.destroy(new Error("handshake timed out")));
    socket.once("secureConnect", () => {
      const serial = socket.getPeerCertificate().serialNumber;
      const protocol = socket.getProtocol() ?? undefined;
      socket.destroy();
      resolve({ serial, protocol });
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    socket.once("close", () => resolve({ error: "closed" }));
  });
}

/**
 * A TLS 1.2 handshake, then a client-initiated renegotiation (TLS 1.3 has none). Resolves "kept
 * open" when the renegotiation went through and the connection is still up a second later, else
 * with what ended it: OpenSSL's refusal (SSL_OP_NO_RENEGOTIATION on the server), or the server
 * dropping the connection — Node's disableRenegotiation() lets the client's callback report
 * success first, so only the connection's fate tells.
 */
export function renegotiate(port: number, opts: tls.ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ...opts, maxVersion: "TLSv1.2" });
    const done = (result: string) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(10_000, () => done("timed out"));
    socket.resume(); // the renegotiation's records arrive with the data
    socket.once("secureConnect", () => {
      const started = socket.renegotiate({}, (err) =>
        err ? done((err as NodeJS.ErrnoException).code ?? err.message) : setTimeout(() => done("kept open"), 1_000),
      );
      if (!started) done("not started");
    });
    socket.once("error", (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.once("close", () => done("closed"));
  });
}
