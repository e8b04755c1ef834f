// The organisation webhook (docs/nanostream.md §4 and §8, issue 4 §4): a form-encoded POST per
// publish event. Semantics are nginx-rtmp's notify module, which nanoStream's mirror: a 2xx
// answer allows; any other status, a timeout or a network error refuses (publish) or ends the
// session (update_publish). Fail closed, like the bintu check before it.
//
// Redirects are not followed and a 3xx refuses: nginx-rtmp would follow on_publish's 3xx to
// *rename* the stream, which this edge does not support, and following it as an "allow" would let
// whoever controls the redirect target decide (nginx-rtmp's notify_update_strict also treats 3xx
// as a failure).

export interface WebhookSession {
  /** Stream name without its query. */
  name: string;
  app: string;
  /** Client IP. */
  addr: string;
  clientid: string;
  /** The custom query parameters of the stream key, in the publisher's order. */
  custom: Iterable<readonly [string, string]>;
}

export type WebhookCall =
  | ({ call: "publish"; tcurl: string } & WebhookSession)
  /** `time`: seconds since publish; `timestamp`: the last A/V timestamp (ms). */
  | ({ call: "update_publish"; time: number; timestamp: number } & WebhookSession)
  | ({ call: "publish_done"; bytes_in: number; bytes_out: number } & WebhookSession);

export type WebhookOutcome = "allow" | "deny_status" | "deny_redirect" | "timeout" | "network" | "aborted";

export interface WebhookOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** For metrics: what happened and how long it took (ms). */
  onResult?: (outcome: WebhookOutcome, ms: number) => void;
}

// Fields the edge sets; a custom parameter with one of these names is dropped, so a publisher
// cannot send e.g. `?name=someone-else` ahead of the real `name` to a receiver that reads the
// first value.
const RESERVED = new Set(["call", "name", "type", "app", "tcurl", "addr", "clientid", "time", "timestamp", "bytes_in", "bytes_out"]);

/**
 * The form body. Custom fields first, unchanged and in order, then nanoStream's documented order
 * for publish: `call, name, type, app, tcurl, addr, clientid` (docs/nanostream.md §4 example). For
 * update_publish and publish_done the order is not documented: the common fields keep theirs and
 * the event's own fields follow.
 */
export function webhookBody(c: WebhookCall): URLSearchParams {
  const body = new URLSearchParams();
  for (const [key, value] of c.custom) if (!RESERVED.has(key)) body.append(key, value);
  body.append("call", c.call);
  body.append("name", c.name);
  if (c.call === "publish") body.append("type", "live");
  body.append("app", c.app);
  if (c.call === "publish") body.append("tcurl", c.tcurl);
  body.append("addr", c.addr);
  body.append("clientid", c.clientid);
  if (c.call === "update_publish") {
    body.append("time", String(Math.floor(c.time)));
    body.append("timestamp", String(Math.floor(c.timestamp)));
  } else if (c.call === "publish_done") {
    body.append("bytes_in", String(c.bytes_in));
    body.append("bytes_out", String(c.bytes_out));
  }
  return body;
}

export async function callWebhook(url: string, c: WebhookCall, opts: WebhookOptions): Promise<"allow" | "deny"> {
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  const started = performance.now();
  const done = (outcome: WebhookOutcome): "allow" | "deny" => {
    opts.onResult?.(outcome, performance.now() - started);
    return outcome === "allow" ? "allow" : "deny";
  };
  try {
    const res = await (opts.fetch ?? fetch)(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: webhookBody(c).toString(),
      signal,
      redirect: "manual",
    });
    // The answer is the status alone; the body is not read, and cancelling it frees the socket.
    void res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status <= 299) return done("allow");
    return done(res.status >= 300 && res.status <= 399 ? "deny_redirect" : "deny_status");
  } catch {
    return done(deadline.aborted ? "timeout" : opts.signal?.aborted ? "aborted" : "network");
  }
}
