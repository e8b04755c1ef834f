// The organisation webhook against a real HTTP receiver on 127.0.0.1 (issue 4 §4): nanoStream's
// field order and form encoding, and nginx-rtmp's decision rule — 2xx allows, anything else,
// a redirect, a timeout or a refused connection denies.
import http from "node:http";
import type { AddressInfo } from "node:net";
import t, { type Test } from "tap";
import { callWebhook, webhookBody, type WebhookCall, type WebhookOutcome } from "../../src/bintu/webhook.js";

interface Received {
  method: string;
  path: string;
  contentType: string | undefined;
  body: string;
}

/** A webhook receiver answering `status` (or never, for "hang"); records what it got. */
async function receiver(t: Test, answer: number | "hang") {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      received.push({ method: req.method!, path: req.url!, contentType: req.headers["content-type"], body });
      if (answer === "hang") return;
      res.writeHead(answer, answer >= 300 && answer < 400 ? { location: "/allow" } : {}).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

const session = {
  name: "CD6xx-123456",
  app: "live",
  addr: "203.0.113.7",
  clientid: "123456",
  custom: [
    ["foo", "bar"],
    ["batz", "12345"],
  ] as [string, string][],
};
const publish: WebhookCall = { call: "publish", tcurl: "rtmp://edge.example:1935/live", ...session };

t.test("publish: custom fields first, then nanoStream's order, form-encoded", async (t) => {
  const hook = await receiver(t, 200);
  t.equal(await callWebhook(hook.url, publish, { timeoutMs: 1_000 }), "allow");
  t.equal(hook.received.length, 1);
  t.match(hook.received[0], { method: "POST", path: "/hook", contentType: "application/x-www-form-urlencoded" });
  t.equal(
    hook.received[0].body,
    "foo=bar&batz=12345&call=publish&name=CD6xx-123456&type=live&app=live&tcurl=rtmp%3A%2F%2Fedge.example%3A1935%2Flive&addr=203.0.113.7&clientid=123456",
    "the documented example's order (docs/nanostream.md §4)",
  );
});

t.test("update_publish and publish_done carry their own fields after the common ones", async (t) => {
  t.equal(
    webhookBody({ call: "update_publish", time: 30.9, timestamp: 30_012, ...session }).toString(),
    "foo=bar&batz=12345&call=update_publish&name=CD6xx-123456&app=live&addr=203.0.113.7&clientid=123456&time=30&timestamp=30012",
  );
  t.equal(
    webhookBody({ call: "publish_done", bytes_in: 1_234_567, bytes_out: 89, ...session }).toString(),
    "foo=bar&batz=12345&call=publish_done&name=CD6xx-123456&app=live&addr=203.0.113.7&clientid=123456&bytes_in=1234567&bytes_out=89",
  );
});

t.test("custom fields are encoded, keep their order, and cannot shadow the edge's fields", async (t) => {
  const custom: [string, string][] = [
    ["z", "1"],
    ["name", "someone-else"],
    ["pass code", "a&b=c ü"],
    ["call", "play"],
    ["a", "2"],
  ];
  const body = webhookBody({ ...publish, custom });
  t.equal(body.toString().split("&call=")[0], "z=1&pass+code=a%26b%3Dc+%C3%BC&a=2");
  t.same(body.getAll("name"), ["CD6xx-123456"]);
  t.same(body.getAll("call"), ["publish"]);
});

const DECISIONS: { status: number; decision: "allow" | "deny"; outcome: WebhookOutcome }[] = [
  { status: 200, decision: "allow", outcome: "allow" },
  { status: 204, decision: "allow", outcome: "allow" },
  { status: 403, decision: "deny", outcome: "deny_status" },
  { status: 404, decision: "deny", outcome: "deny_status" },
  { status: 500, decision: "deny", outcome: "deny_status" },
  { status: 302, decision: "deny", outcome: "deny_redirect" },
];

for (const { status, decision, outcome } of DECISIONS) {
  t.test(`HTTP ${status} → ${decision}`, async (t) => {
    const hook = await receiver(t, status);
    const outcomes: WebhookOutcome[] = [];
    t.equal(await callWebhook(hook.url, publish, { timeoutMs: 1_000, onResult: (o) => outcomes.push(o) }), decision);
    t.same(outcomes, [outcome]);
    t.equal(hook.received.length, 1, "one request: a redirect is not followed");
  });
}

t.test("no answer within the deadline → deny, at the deadline", async (t) => {
  const hook = await receiver(t, "hang");
  const outcomes: WebhookOutcome[] = [];
  const started = performance.now();
  t.equal(await callWebhook(hook.url, publish, { timeoutMs: 200, onResult: (o) => outcomes.push(o) }), "deny");
  const ms = performance.now() - started;
  t.ok(ms >= 195 && ms < 450, `denied after ${ms.toFixed(0)} ms`);
  t.same(outcomes, ["timeout"]);
});

t.test("connection refused → deny", async (t) => {
  const hook = await receiver(t, 200);
  const closed = hook.url.replace(/:\d+\//, ":1/"); // port 1: nothing listens there
  const outcomes: WebhookOutcome[] = [];
  t.equal(await callWebhook(closed, publish, { timeoutMs: 1_000, onResult: (o) => outcomes.push(o) }), "deny");
  t.same(outcomes, ["network"]);
});

t.test("the caller's signal ends the call early → deny", async (t) => {
  const hook = await receiver(t, "hang");
  const outcomes: WebhookOutcome[] = [];
  const started = performance.now();
  const signal = AbortSignal.timeout(50);
  t.equal(await callWebhook(hook.url, publish, { timeoutMs: 5_000, signal, onResult: (o) => outcomes.push(o) }), "deny");
  t.ok(performance.now() - started < 1_000);
  t.same(outcomes, ["aborted"]);
});
