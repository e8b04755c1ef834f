// A refused address learns nothing about keys (issue 18 §5), end to end: with the address blocked
// by a Guardian rule, a live key, an existing idle key, a locked key and an unknown one get the same
// answer on HTTP-FLV, on RTMP play and on RTMP publish — and the same with a tag-scoped rule in
// force, which moves the Guardian after the lookup.
import t from "tap";
import { startEdge, type TestEdge } from "../helpers/edge.js";
import { publish } from "../helpers/ffmpeg.js";
import { RawRtmpClient } from "../helpers/rtmp-client.js";
import { waitFor } from "../helpers/wait.js";

async function rule(edge: TestEdge, kind: string, body: object): Promise<string> {
  const res = await edge.api(`/guardian/${kind}`, { method: "POST", json: body });
  if (res.status !== 200) throw new Error(`POST /guardian/${kind}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function answers(edge: TestEdge, name: string): Promise<unknown[]> {
  const flv = await fetch(edge.flvUrl(name));
  const out: unknown[] = [flv.status, await flv.text()];
  for (const action of ["play", "publish"] as const) {
    const rtmp = await RawRtmpClient.connect(edge.addresses.rtmp.port);
    await rtmp.handshake();
    await rtmp.connectApp("live");
    const status = await rtmp[action](await rtmp.createStream(), name);
    out.push(status.code, status.description);
    rtmp.destroy();
  }
  return out;
}

t.test("a blocked address gets one answer for live, idle, locked and unknown keys", async (t) => {
  const edge = await startEdge(t);
  const live = await edge.createStream(["sports"]);
  const idle = await edge.createStream();
  const locked = await edge.createStream();
  t.equal((await edge.api(`/stream/${locked.id}/lock`, { method: "PUT" })).status, 200);
  const encoder = publish(edge.rtmpUrl(live.name), { seconds: 40, size: "160x120" });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await waitFor("live", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 1);

  // Before any rule the keys are told apart: that is what the rule must hide.
  const open = await Promise.all([live.name, idle.name, "NoSuch-Key1"].map(async (n) => (await fetch(edge.flvUrl(n))).status));
  t.not(open[0], open[2], "without a rule a live key and an unknown one differ");

  await rule(edge, "ip", { ip: "127.0.0.0/8", type: "deny", actions: ["play", "publish"] });
  const names = [live.name, idle.name, locked.name, "NoSuch-Key1"];
  const first = await answers(edge, names[0]);
  t.match(first, [403, /EDGE_ERR_GUARDIAN_IP/, "NetStream.Play.Failed", String, "NetStream.Publish.Unauthorized", String]);
  for (const n of names.slice(1)) t.same(await answers(edge, n), first, `${n === names[3] ? "unknown" : "existing"} key: the same answer`);

  // A tag-scoped rule in force: the lookup runs first, the answer stays the same.
  await rule(edge, "ip", { ip: "192.0.2.0/24", type: "deny", actions: ["play", "publish"], scope: { tag: "sports" } });
  for (const n of names) t.same(await answers(edge, n), first, `with a tag rule: ${n}`);
});
