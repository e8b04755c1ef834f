// The directory's outage semantics against a real HTTP bintu behind the fault proxy, with an
// injected clock (issue 4 §2; docs/reliability.md §6-B2/B6/B7/B8): the stale window to the
// millisecond, fail-closed for keys never validated, the breaker's call budget during an outage
// and its recovery, and the memory bound under 10^6 distinct keys.
import { Worker } from "node:worker_threads";
import t from "tap";
import type { BreakerState, LookupSource } from "../../src/bintu/directory.js";
import { startFaultProxy } from "../helpers/fault-proxy.js";
import type { ScanResult } from "./fixtures/scan-worker.js";
import { fakeClock, remoteDirectory, startUpstream } from "./fixtures/upstream.js";

const upstream = await startUpstream(t);
const known = await upstream.createStream();

t.test("stale window: served stale while validated < staleIfErrorMs ago, refused from then on", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  const clock = fakeClock();
  const seen: (LookupSource | "error")[] = [];
  const { directory } = remoteDirectory(proxy, upstream, { now: clock.now, events: { lookup: (s) => seen.push(s) } });
  const validatedAt = clock.t;
  await directory.lookup(known.name);
  await proxy.setMode("5xx");

  clock.t = validatedAt + 1_000;
  t.equal((await directory.resolve(known.name)).source, "cache", "at the TTL: still fresh");
  clock.t = validatedAt + 1_001;
  t.equal((await directory.resolve(known.name)).source, "stale", "past the TTL, bintu failing: stale");
  t.equal(proxy.requests, 2);
  clock.t = validatedAt + 1_500;
  t.equal((await directory.resolve(known.name)).source, "stale", "the stale answer is cached too");
  t.equal(proxy.requests, 2, "…without asking again within the TTL");
  clock.t = validatedAt + 9_999;
  t.equal((await directory.resolve(known.name)).source, "stale", "1 ms before the window ends");
  clock.t = validatedAt + 10_000;
  await t.rejects(directory.resolve(known.name), { code: "EDGE_ERR_BINTU_UNAVAILABLE" }, "at the window's end: refused");
  clock.t = validatedAt + 10_500;
  await t.rejects(directory.resolve(known.name), { code: "EDGE_ERR_BINTU_UNAVAILABLE" }, "and after it");

  await proxy.setMode("pass");
  t.equal((await directory.resolve(known.name)).source, "bintu", "bintu back: validated again");
  const revalidatedAt = clock.t;
  await proxy.setMode("5xx");
  clock.t = revalidatedAt + 9_999;
  t.equal((await directory.resolve(known.name)).source, "stale", "the window restarts from the new validation");
  t.same(seen, ["bintu", "cache", "stale", "stale", "stale", "error", "error", "bintu", "stale"]);
});

t.test("a negative answer is never served stale: unknown stays refused, as unavailable", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  const clock = fakeClock();
  const { directory } = remoteDirectory(proxy, upstream, { now: clock.now });
  t.equal(await directory.lookup("NoSuch-Key02"), null);
  await proxy.setMode("5xx");
  clock.advance(501);
  await t.rejects(directory.lookup("NoSuch-Key02"), { code: "EDGE_ERR_BINTU_UNAVAILABLE" });
});

t.test("breaker: an outage costs `breakerFailures` requests, then one probe per cool-down; recovery closes it", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  const clock = fakeClock();
  const states: BreakerState[] = [];
  const { directory } = remoteDirectory(proxy, upstream, {
    now: clock.now,
    breakerFailures: 3,
    breakerCooldownMs: 5_000,
    events: { breaker: (s) => states.push(s) },
  });
  await directory.lookup(known.name);
  await proxy.setMode("5xx");
  proxy.resetCount();
  clock.advance(1_001);

  const refusedKeys = async (n: number, prefix: string) => {
    let refused = 0;
    for (let i = 0; i < n; i++) await directory.lookup(`${prefix}-${i}`).catch(() => refused++);
    return refused;
  };
  t.equal(await refusedKeys(100, "a"), 100, "100 cold keys during the outage: all refused");
  t.equal(proxy.requests, 3, "…with 3 requests: the breaker opened after the third failure");
  t.equal(directory.breakerState, "open");
  t.equal((await directory.resolve(known.name)).source, "stale", "a validated key is served stale without a request");

  const storm = await Promise.allSettled(Array.from({ length: 1_000 }, (_, i) => directory.lookup(`b-${i}`)));
  t.ok(
    storm.every((r) => r.status === "rejected"),
    "1,000 concurrent cold keys while open: refused",
  );
  t.equal(proxy.requests, 3, "…without a single request");

  clock.advance(5_000);
  t.equal(await refusedKeys(50, "c"), 50);
  t.equal(proxy.requests, 4, "after the cool-down: one probe, which fails and re-opens");
  clock.advance(4_999);
  await refusedKeys(50, "d");
  t.equal(proxy.requests, 4, "no probe before the next cool-down has passed");

  await proxy.setMode("pass");
  clock.advance(1);
  t.equal((await directory.resolve(known.name)).source, "bintu", "the probe succeeds: answered by bintu");
  t.equal(directory.breakerState, "closed");
  t.equal(await directory.lookup("NoSuch-Key03"), null, "closed: lookups reach bintu again");
  t.equal(proxy.requests, 6);
  t.same(states, ["open", "half_open", "open", "half_open", "closed"]);
});

t.test("10^6 distinct keys leave the cache at its max (in-process fetch: a memory test)", async (t) => {
  const maxEntries = 10_000;
  const worker = new Worker(new URL("./fixtures/scan-worker.ts", import.meta.url), { workerData: { keys: 1_000_000, maxEntries } });
  const r = await new Promise<ScanResult>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  t.equal(r.peakEntries, maxEntries, `peak entries ${r.peakEntries} after ${r.keys} keys in ${(r.ms / 1000).toFixed(1)} s`);
  t.equal(r.found, 0, "no scanned key was found");
  // The first batch of 1,000 runs before any answer told the source to switch to its index.
  t.ok(r.fetches <= 1_000, `${r.fetches} requests for the whole scan`);
  t.ok(r.retainedMiB < 32, `heap retained ${r.retainedMiB.toFixed(1)} MiB`);
});
