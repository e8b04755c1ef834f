// Re-validation of live publishers against a real HTTP bintu (issue 4 §3, docs/reliability.md §6-C1/C3):
// a key locked or deleted in bintu is kicked within one jittered interval and stays refused;
// while bintu is down a publisher is kept until its stale window ends, then kicked.
import t from "tap";
import { Revalidator, type CheckResult, type LiveSession } from "../../src/access/revalidator.js";
import type { ErrorCode } from "../../src/errors.js";
import { startFaultProxy } from "../helpers/fault-proxy.js";
import { waitFor } from "../helpers/wait.js";
import { fakeClock, remoteDirectory, startUpstream, TEST_TIMEOUT_MS } from "../bintu/fixtures/upstream.js";

const INTERVAL_MS = 200;
const upstream = await startUpstream(t);

function kicks() {
  const list: { session: LiveSession; code: ErrorCode; at: number }[] = [];
  return { list, kick: (session: LiveSession, code: ErrorCode) => list.push({ session, code, at: performance.now() }) };
}

for (const action of ["lock", "delete"] as const) {
  t.test(`a key ${action === "lock" ? "locked" : "deleted"} in bintu: publisher kicked within interval × 1.2 + deadline, reconnect refused`, async (t) => {
    const proxy = await startFaultProxy(t, upstream.url);
    const { directory } = remoteDirectory(proxy, upstream);
    const stream = await upstream.createStream();
    const k = kicks();
    const revalidator = new Revalidator({ directory, intervalMs: INTERVAL_MS, kick: k.kick });
    t.teardown(() => revalidator.close());
    const session = { id: "s1", name: stream.name };
    t.ok(await directory.lookup(stream.name), "publish allowed");
    revalidator.add(session);

    await new Promise((r) => setTimeout(r, INTERVAL_MS * 2));
    t.equal(k.list.length, 0, "kept while the key is valid");
    const changedAt = performance.now();
    await upstream.change(stream.id, action);
    await waitFor("kick", () => k.list.length > 0, 2_000);
    const latency = k.list[0].at - changedAt;
    t.ok(latency <= INTERVAL_MS * 1.2 + TEST_TIMEOUT_MS, `kicked ${latency.toFixed(0)} ms after the ${action}`);
    // bintu hides deleted streams (docs/nanostream.md §1.3): a deleted key reads as unknown.
    t.equal(k.list[0].code, action === "lock" ? "EDGE_ERR_STREAM_LOCKED" : "EDGE_ERR_STREAM_UNKNOWN");
    t.equal(revalidator.size, 0, "a kicked session is no longer checked");

    const reconnect = await directory.lookup(stream.name);
    t.equal(reconnect?.state ?? null, action === "lock" ? "locked" : null, "the reconnect sees the new state (refused)");
  });
}

t.test("bintu down: the publisher is kept through the stale window, then kicked as unavailable", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  const clock = fakeClock();
  const { directory } = remoteDirectory(proxy, upstream, { now: clock.now, staleIfErrorMs: 10_000, breakerFailures: 2, breakerCooldownMs: 5_000 });
  const stream = await upstream.createStream();
  const k = kicks();
  const results: CheckResult[] = [];
  const revalidator = new Revalidator({ directory, intervalMs: 50, kick: k.kick, onChecked: (_s, r) => results.push(r) });
  t.teardown(() => revalidator.close());
  await directory.lookup(stream.name);
  revalidator.add({ id: "s1", name: stream.name });

  await proxy.setMode("hang");
  proxy.resetCount();
  await waitFor("three checks during the outage", () => results.length >= 3, 3_000);
  t.equal(k.list.length, 0, "kept while the last validation is inside the window");
  t.ok(
    results.every((r) => r.keep && r.source === "stale"),
    "each kept check was served stale",
  );

  clock.advance(10_000);
  await waitFor("kick", () => k.list.length > 0, 2_000);
  t.equal(k.list[0].code, "EDGE_ERR_BINTU_UNAVAILABLE");
  t.equal(proxy.requests, 3, "two failures opened the breaker; then one probe after the cool-down");
});

t.test("a check that bintu allows runs `afterValid` (the webhook's update_publish); its code kicks", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  const { directory } = remoteDirectory(proxy, upstream);
  const stream = await upstream.createStream();
  const k = kicks();
  let calls = 0;
  const revalidator = new Revalidator({
    directory,
    intervalMs: 50,
    kick: k.kick,
    afterValid: async () => (++calls < 3 ? null : ("EDGE_ERR_KICKED" as const)),
  });
  t.teardown(() => revalidator.close());
  revalidator.add({ id: "s1", name: stream.name });
  await waitFor("kick", () => k.list.length > 0, 2_000);
  t.equal(calls, 3);
  t.equal(k.list[0].code, "EDGE_ERR_KICKED");
});

t.test("remove() stops the checks; close() stops them all", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  const { directory } = remoteDirectory(proxy, upstream);
  const stream = await upstream.createStream();
  const k = kicks();
  const revalidator = new Revalidator({ directory, intervalMs: 50, jitter: 0, kick: k.kick });
  revalidator.add({ id: "a", name: stream.name });
  revalidator.add({ id: "b", name: "NoSuch-Key04" });
  revalidator.remove("b");
  await new Promise((r) => setTimeout(r, 200));
  t.equal(k.list.length, 0, "the removed unknown key was never kicked");
  revalidator.close();
  // A check already on the wire when close() ran may still arrive; none may start afterwards.
  await new Promise((r) => setTimeout(r, 100));
  const before = proxy.requests;
  await new Promise((r) => setTimeout(r, 300));
  t.equal(proxy.requests, before, "no check after close");
  t.equal(revalidator.size, 0);
});
