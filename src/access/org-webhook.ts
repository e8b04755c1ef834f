// The organisation webhook around a publish (docs/nanostream.md §4, issue 4 §4): `publish` before
// Publish.Start, `update_publish` on every re-validation, `publish_done` at the end.
import { callWebhook, type WebhookOutcome, type WebhookSession } from "../bintu/webhook.js";
import type { PublishWebhook } from "./ports.js";
import type { AccessRequest, EdgeSession } from "./types.js";

export type WebhookCallName = "publish" | "update_publish" | "publish_done";

export class OrgWebhook implements PublishWebhook {
  constructor(
    private readonly url: string,
    private readonly timeoutMs: number,
    private readonly count: (call: WebhookCallName, outcome: WebhookOutcome) => void,
    /** Trusts tls.caFile besides the system store (issue 15); default the global fetch. */
    private readonly fetchFn?: typeof fetch,
  ) {}

  publish(req: AccessRequest): Promise<"allow" | "deny"> {
    return this.call({ call: "publish", tcurl: req.tcUrl ?? "", ...fieldsOf(req) });
  }

  update(s: EdgeSession, elapsedMs: number): Promise<"allow" | "deny"> {
    // `timestamp` is the stream's last A/V timestamp in nginx-rtmp; the edge reports the
    // publish's elapsed time in ms, which matches it for encoders that start at 0.
    return this.call({ call: "update_publish", time: Math.floor(elapsedMs / 1000), timestamp: elapsedMs, ...fieldsOf(s.request) });
  }

  /** Fire and forget: the session is over whatever the receiver says. */
  done(s: EdgeSession): void {
    void this.call({ call: "publish_done", bytes_in: s.bytesIn(), bytes_out: s.bytesOut(), ...fieldsOf(s.request) });
  }

  private call(c: Parameters<typeof callWebhook>[1]): Promise<"allow" | "deny"> {
    return callWebhook(this.url, c, {
      timeoutMs: this.timeoutMs,
      onResult: (outcome) => this.count(c.call, outcome),
      ...(this.fetchFn ? { fetch: this.fetchFn } : {}),
    });
  }
}

function fieldsOf(req: AccessRequest): WebhookSession {
  return { name: req.name, app: req.app, addr: req.ip, clientid: req.clientId ?? "", custom: Object.entries(req.query) };
}
