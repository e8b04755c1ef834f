// Guardian rules on every play and publish, end to end (issue 5): a real ffmpeg publisher and
// players, rules through the nanoStream-compatible API, applied at once to new connections and,
// with guardian.enforceOnActive, to running ones.
import t from "tap";
import { startEdge, type TestEdge } from "../helpers/edge.js";
import { play, publish } from "../helpers/ffmpeg.js";
import { RawRtmpClient } from "../helpers/rtmp-client.js";
import { waitFor } from "../helpers/wait.js";

async function rule(edge: TestEdge, kind: string, body: object): Promise<string> {
  const res = await edge.api(`/guardian/${kind}`, { method: "POST", json: body });
  if (res.status !== 200) throw new Error(`POST /guardian/${kind}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function flvCode(url: string, headers: Record<string, string> = {}): Promise<string | number> {
  const res = await fetch(url, { headers });
  if (res.status === 200) {
    await res.body?.cancel();
    return 200;
  }
  return ((await res.json()) as { code: string }).code;
}

const players = async (edge: TestEdge) => ((await (await edge.api("/v1/sessions")).json()) as { role: string }[]).filter((s) => s.role === "player").length;

t.test("IP and referrer rules refuse new plays at once; running plays are left alone by default", async (t) => {
  const edge = await startEdge(t, { EDGE_API_TRUST_PROXY: "127.0.0.1" });
  const { name } = await edge.createStream();
  const encoder = publish(edge.rtmpUrl(name), { seconds: 40 });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await waitFor("live", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 1);
  const running = play(edge.flvUrl(name), { frames: 1_000_000, timeoutMs: 30_000 });
  t.teardown(() => running.child.kill("SIGKILL"));
  await waitFor("player", async () => (await players(edge)) === 1);

  const ipRule = await rule(edge, "ip", { ip: "127.0.0.0/8", type: "deny", tag: "test" });
  t.equal(await flvCode(edge.flvUrl(name)), "EDGE_ERR_GUARDIAN_IP", "HTTP-FLV refused right after the API call");
  const rtmp = await RawRtmpClient.connect(edge.addresses.rtmp.port);
  await rtmp.handshake();
  await rtmp.connectApp("live");
  t.equal((await rtmp.play(await rtmp.createStream(), name)).code, "NetStream.Play.Failed", "RTMP play refused");
  rtmp.destroy();
  t.equal(await players(edge), 1, "the running player was not cut (nanoStream semantics)");

  // The client IP behind a trusted proxy is the forwarded one; from an untrusted peer XFF is ignored.
  const authorize = (xff: string) =>
    fetch(`http://127.0.0.1:${edge.addresses.api.port}/v1/authorize/play?stream=${name}`, { headers: { "X-Forwarded-For": xff } });
  t.equal((await authorize("198.51.100.7")).status, 204, "a forwarded client outside the blocked range plays");
  t.equal((await edge.api(`/guardian/ip/${ipRule}`, { method: "DELETE" })).status, 204);
  t.equal(await flvCode(edge.flvUrl(name)), 200, "allowed again once the rule is deleted");

  await rule(edge, "referer", { domain: "*", type: "deny", info: "allow-list" });
  await rule(edge, "referer", { domain: "app.example.com", type: "allow" });
  t.equal(await flvCode(edge.flvUrl(name), { Referer: "https://app.example.com/page" }), 200, "the allowed site");
  t.equal(await flvCode(edge.flvUrl(name), { Origin: "https://APP.example.com:8443" }), 200, "Origin, any case and port");
  t.equal(await flvCode(edge.flvUrl(name), { Referer: "https://evil.example.net/" }), "EDGE_ERR_GUARDIAN_REFERER");
  t.equal(await flvCode(edge.flvUrl(name)), 200, "no Referer (ffmpeg, VLC): allowed by guardian.allowMissingReferer");
});

t.test("with guardian.enforceOnActive a new deny rule cuts running sessions within 1 s", async (t) => {
  const edge = await startEdge(t, { EDGE_GUARDIAN_ENFORCE_ON_ACTIVE: "true" });
  const { name } = await edge.createStream();
  const encoder = publish(edge.rtmpUrl(name), { seconds: 40 });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await waitFor("live", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 1);
  const flv = play(edge.flvUrl(name), { frames: 1_000_000, timeoutMs: 30_000 });
  const rtmp = play(edge.rtmpUrl(name), { frames: 1_000_000, timeoutMs: 30_000 });
  await waitFor("players", async () => (await players(edge)) === 2);
  const at = Date.now();
  await rule(edge, "ip", { ip: "127.0.0.1", type: "deny", stream: name });
  await waitFor("players cut", async () => (await players(edge)) === 0, 1_000);
  t.pass(`both players cut ${Date.now() - at} ms after the rule`);
  t.not((await flv.exited).code, null);
  t.not((await rtmp.exited).code, null);
  t.equal(((await (await edge.api("/v1/sessions")).json()) as unknown[]).length, 1, "the publisher is not covered by a play rule");
});

t.test("a rule's own enforceOnActive cuts running sessions within 1 s with the edge-wide flag off", async (t) => {
  const edge = await startEdge(t);
  const { name } = await edge.createStream();
  const encoder = publish(edge.rtmpUrl(name), { seconds: 40 });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await waitFor("live", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 1);
  const flv = play(edge.flvUrl(name), { frames: 1_000_000, timeoutMs: 30_000 });
  t.teardown(() => flv.child.kill("SIGKILL"));
  await waitFor("player", async () => (await players(edge)) === 1);
  // The same address by a rule without the flag: refused for new plays only (the default stays).
  await rule(edge, "ip", { ip: "127.0.0.0/8", type: "deny", stream: name });
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(await players(edge), 1, "a rule without enforceOnActive leaves the running player");
  const at = Date.now();
  const id = await rule(edge, "ip", { ip: "127.0.0.1", type: "deny", stream: name, enforceOnActive: true });
  await waitFor("player cut", async () => (await players(edge)) === 0, 1_000);
  t.pass(`the player was cut ${Date.now() - at} ms after the rule`);
  t.not((await flv.exited).code, null);
  const listed = (await (await edge.api(`/guardian/ip?stream=${name}`)).json()) as { id: string; enforceOnActive: boolean }[];
  t.same(
    listed.map((r) => [r.id === id, r.enforceOnActive]),
    [
      [false, false],
      [true, true],
    ],
    "the flag is stored and listed per rule",
  );
  t.equal(((await (await edge.api("/v1/sessions")).json()) as unknown[]).length, 1, "the publisher is not covered by a play rule");
});

t.test("what report-mode rules would have refused: kept with protocol and stream reference, never the key", async (t) => {
  const edge = await startEdge(t);
  const { name } = await edge.createStream();
  const id = await rule(edge, "ip", { ip: "127.0.0.0/8", type: "deny", mode: "report" });
  t.equal(await flvCode(edge.flvUrl(name)), "EDGE_ERR_STREAM_NOT_LIVE", "report mode: the Guardian let the play through");
  const res = await edge.api("/v1/guardian/would-deny");
  const text = await res.text();
  t.match(JSON.parse(text), {
    capacity: 200,
    recorded: 1,
    events: [{ at: String, ruleId: id, kind: "ip", value: "127.0.0.0/8", action: "play", protocol: "flv", ip: /127\.0\.0\.1$/, stream: /^ref:[0-9a-f]{12}$/ }],
  });
  t.notMatch(text, name, "the stream key (a publish credential) is not shown");
});

t.test("a publish rule is an ingest allow-list", async (t) => {
  const edge = await startEdge(t);
  const { name } = await edge.createStream();
  await rule(edge, "ip", { ip: "10.0.0.0/8", type: "allow", actions: ["publish"], stream: name });
  await rule(edge, "ip", { ip: "0.0.0.0/0", type: "deny", actions: ["publish"], stream: name });
  const refused = await publish(edge.rtmpUrl(name), { seconds: 2 }).exited;
  t.not(refused.code, 0);
  t.match(refused.stderr, /address blocked by a Guardian rule/);
  const other = await edge.createStream();
  t.equal((await publish(edge.rtmpUrl(other.name), { seconds: 1 }).exited).code, 0, "other streams are not covered");
});
