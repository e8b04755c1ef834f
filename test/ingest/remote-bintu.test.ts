// Remote mode end to end (issue 4): this edge validates keys against another edge's embedded
// registry over HTTP, re-validates live publishers, and calls the organisation webhook.
import http from "node:http";
import t from "tap";
import { spawnEdge, startEdge } from "../helpers/edge.js";
import { play, publish } from "../helpers/ffmpeg.js";
import { parsePrometheus, valueOf } from "../helpers/prometheus.js";
import { RawRtmpClient } from "../helpers/rtmp-client.js";
import { waitFor } from "../helpers/wait.js";

t.test("keys from a remote bintu; a lock there kicks the publisher, refuses its reconnect and closes its players", async (t) => {
  const upstreamKey = "upstream-org-key-0123456789abcdef";
  const upstream = await spawnEdge(t, { EDGE_BINTU_APIKEY: upstreamKey });
  const bintu = `http://127.0.0.1:${upstream.addresses.api}`;
  const ask = (path: string, method = "GET") =>
    fetch(bintu + path, { method, headers: { "X-BINTU-APIKEY": upstreamKey, "content-type": "application/json" }, body: method === "POST" ? "{}" : undefined });
  const created = (await (await ask("/stream", "POST")).json()) as { id: string; ingest: { rtmp: { streamname: string } } };
  const name = created.ingest.rtmp.streamname;

  const edge = await startEdge(t, {
    EDGE_BINTU_MODE: "remote",
    EDGE_BINTU_URL: bintu,
    EDGE_BINTU_APIKEY: upstreamKey,
    EDGE_INGEST_REVALIDATE_INTERVAL_MS: "300",
    EDGE_PLAYBACK_END_GRACE_MS: "200",
  });
  t.equal((await edge.api("/stream", { method: "POST", json: {} })).status, 404, "no embedded registry in remote mode");
  const unknown = await publish(edge.rtmpUrl("NoSuch-Stream1"), { seconds: 2 }).exited;
  t.match(unknown.stderr, /no such stream/, "an unknown key is refused");

  const encoder = publish(edge.rtmpUrl(name), { seconds: 30 });
  await waitFor("live", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 1);
  const player = play(edge.flvUrl(name), { frames: 1_000_000, timeoutMs: 30_000 });
  await waitFor("player", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 2);

  const lockedAt = Date.now();
  t.equal((await ask(`/stream/${created.id}/lock`, "PUT")).status, 200);
  const kicked = await encoder.exited;
  const kickMs = Date.now() - lockedAt;
  t.not(kicked.code, 0);
  t.ok(kickMs < 300 * 1.2 + 2_000 + 1_000, `publisher kicked ${kickMs} ms after the lock upstream (interval 300 ms)`);
  t.not((await player.exited).code, null, "its player was closed");
  const retry = await publish(edge.rtmpUrl(name), { seconds: 2 }).exited;
  t.match(retry.stderr, /stream is locked/, "the reconnect is refused");

  const metrics = parsePrometheus(await (await fetch(`http://127.0.0.1:${edge.addresses.api.port}/metrics`)).text());
  t.ok(valueOf(metrics, "bintu_edge_bintu_requests_total", { result: "ok" }) >= 2, "remote requests counted");
  t.ok(valueOf(metrics, "bintu_edge_revalidations_total", { result: "locked" }) >= 1, "the kick is counted by reason");
  t.notOk((await (await fetch(`http://127.0.0.1:${edge.addresses.api.port}/metrics`)).text()).includes(upstreamKey), "the key never shows");
});

t.test("the organisation webhook sees publish, update_publish and publish_done, and can refuse", async (t) => {
  const calls: URLSearchParams[] = [];
  let answer = 200;
  const receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      calls.push(new URLSearchParams(body));
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  t.teardown(() => receiver.close());
  const port = (receiver.address() as { port: number }).port;
  const edge = await startEdge(t, { EDGE_INGEST_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`, EDGE_INGEST_REVALIDATE_INTERVAL_MS: "300" });
  const { name } = await edge.createStream();

  const ok = await publish(edge.rtmpUrl(`${name}?passcode=42`), { seconds: 2 }).exited;
  t.equal(ok.code, 0, ok.stderr);
  await waitFor("publish_done", () => calls.some((c) => c.get("call") === "publish_done"));
  const first = calls[0];
  t.same([...first.keys()].slice(0, 3), ["passcode", "call", "name"], "custom fields first, then call, name");
  t.match(Object.fromEntries(first), { passcode: "42", call: "publish", name, app: "live", type: "live" });
  t.ok(
    calls.some((c) => c.get("call") === "update_publish"),
    "update_publish on re-validation",
  );
  t.ok(Number(calls.find((c) => c.get("call") === "publish_done")!.get("bytes_in")) > 0, "publish_done carries bytes_in");

  answer = 403;
  const denied = await publish(edge.rtmpUrl(name), { seconds: 2 }).exited;
  t.not(denied.code, 0);
  t.match(denied.stderr, /refused by the organisation webhook/);
});

t.test("brute-force friction: past the failure budget an address is refused without a lookup", async (t) => {
  const edge = await startEdge(t, { EDGE_INGEST_MAX_FAILED_PUBLISHES_PER_MINUTE: "3" });
  const { name } = await edge.createStream();
  const attempt = async (key: string) => {
    const c = await RawRtmpClient.connect(edge.addresses.rtmp.port);
    await c.handshake();
    await c.connectApp("live");
    const status = await c.publish(await c.createStream(), key);
    c.destroy();
    return status;
  };
  const scrape = async () => parsePrometheus(await (await fetch(`http://127.0.0.1:${edge.addresses.api.port}/metrics`)).text());
  for (let i = 0; i < 3; i++) t.equal((await attempt(`Guess-${i}`)).code, "NetStream.Publish.BadName");
  const lookupsBefore = (await scrape()).filter((s) => s.name === "bintu_edge_stream_lookups_total").reduce((n, s) => n + s.value, 0);
  const blocked = await attempt(name);
  t.match(
    blocked,
    { code: "NetStream.Publish.Unauthorized", description: "too many failed publishes from this address" },
    "even the right key is refused during the cool-down",
  );
  const after = await scrape();
  t.equal(
    after.filter((s) => s.name === "bintu_edge_stream_lookups_total").reduce((n, s) => n + s.value, 0),
    lookupsBefore,
    "no lookup was made",
  );
  t.equal(valueOf(after, "bintu_edge_publish_limiter_events_total", { event: "refusal" }), 1);
  t.equal(valueOf(after, "bintu_edge_access_decisions_total", { action: "publish", result: "deny", reason: "publish_rate_limited" }), 1);
});
