// HTTP spoken by hand over a socket (issue 18): requests fetch refuses to send (bad request lines,
// lower-case methods, CONNECT, trickled bodies), and every answer read back byte for byte.
import net from "node:net";
import { ERRORS } from "../../src/errors.js";

export interface Exchange {
  /** Everything the server sent before closing (or before the wait ended). */
  bytes: Buffer;
  /** The server closed the connection (vs. the wait ran out with it open). */
  closed: boolean;
  ms: number;
}

/** Sends `request` (then half-closes, unless `keepOpen`) and reads until the server closes or `waitMs` passes. */
export function exchange(port: number, request: Buffer | string, opts: { waitMs?: number; keepOpen?: boolean } = {}): Promise<Exchange> {
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1");
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), opts.waitMs ?? 5_000);
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("connect", () => {
      socket.write(request);
      if (!opts.keepOpen) socket.end();
    });
  });
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The answers in `bytes`, in order; a HEAD answer has no body. Throws on anything that is not HTTP/1.1. */
export function parseAnswers(bytes: Buffer, head = false): Answer[] {
  const answers: Answer[] = [];
  let rest = bytes;
  while (rest.length > 0) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) throw new Error(`truncated answer head: ${JSON.stringify(rest.subarray(0, 200).toString("latin1"))}`);
    const [statusLine, ...lines] = rest.subarray(0, end).toString("latin1").split("\r\n");
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine + " ");
    if (!m) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(":");
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    let body: Buffer = Buffer.alloc(0);
    let next = end + 4;
    if (!head && headers["content-length"] !== undefined) {
      const n = Number(headers["content-length"]);
      body = rest.subarray(next, next + n);
      next += n;
    } else if (!head && headers["transfer-encoding"] === "chunked") {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = rest.indexOf("\r\n", next);
        const size = parseInt(rest.subarray(next, eol).toString("latin1"), 16);
        next = eol + 2 + size + 2;
        if (!size) break;
        parts.push(rest.subarray(eol + 2, eol + 2 + size));
      }
      body = Buffer.concat(parts);
    }
    answers.push({ status: Number(m[1]), headers, body });
    rest = rest.subarray(next);
  }
  return answers;
}

/**
 * Why an error answer is not in a documented envelope, or null when it is: `{ code, reason }` with
 * an EDGE_ERR code of that status; bintu's `{ error: { message, code, userinfo } }`; the token
 * service's `{ success: false, errorCode, message }`. For HEAD, only the Content-Type is checked.
 */
export function envelopeProblem(a: Answer, head = false): string | null {
  if (a.status < 400) return null;
  if (!(a.headers["content-type"] ?? "").startsWith("application/json")) return `status ${a.status} without a JSON body`;
  if (head) return null; // the answer to HEAD has the headers of the GET answer, no body
  let body: unknown;
  try {
    body = JSON.parse(a.body.toString("utf8"));
  } catch {
    return `status ${a.status}: body is not JSON: ${a.body.toString("utf8").slice(0, 200)}`;
  }
  const b = body as Record<string, unknown>;
  if (typeof b.code === "string") {
    const spec = (ERRORS as Record<string, { http: number }>)[b.code];
    if (!spec) return `unknown code ${b.code}`;
    if (spec.http !== a.status) return `${b.code} is ${spec.http}, answered ${a.status}`;
    return typeof b.reason === "string" && Object.keys(b).length === 2 ? null : `edge envelope with other fields: ${JSON.stringify(b)}`;
  }
  const err = b.error as Record<string, unknown> | undefined;
  if (err && typeof err === "object" && typeof err.message === "string" && typeof err.code === "number" && typeof err.userinfo === "object") return null;
  if (b.success === false && typeof b.errorCode === "number" && typeof b.message === "string") return null;
  return `status ${a.status}: undocumented body ${JSON.stringify(b).slice(0, 200)}`;
}
