// Remote mode against a real HTTP bintu (a second edge's registry) through a fault proxy
// (issue 4 tests; docs/reliability.md §6-B): request counts, coalescing, every fault mode's decision,
// time to decide and sockets left open, and the list-sync fallback for servers without a name filter.
import t from "tap";
import { EdgeError } from "../../src/errors.js";
import type { RequestResult } from "../../src/bintu/remote-source.js";
import { startFaultProxy, type FaultMode, type FaultProxy } from "../helpers/fault-proxy.js";
import { waitFor } from "../helpers/wait.js";
import { fakeClock, remoteDirectory, startUpstream, TEST_TIMEOUT_MS } from "./fixtures/upstream.js";

// The deadline plus what a loaded CI machine adds around it.
const DECISION_MARGIN_MS = 250;

const upstream = await startUpstream(t);
const known = await upstream.createStream(["a"]);
const other = await upstream.createStream();

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const value = await f();
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

t.test("cold lookup makes one request, warm ones none, an expired entry one more", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  const clock = fakeClock();
  const results: RequestResult[] = [];
  const { directory, source } = remoteDirectory(proxy, upstream, {
    now: clock.now,
    source: { onRequest: (r) => results.push(r) },
  });
  t.same(await directory.resolve(known.name), { stream: { id: known.id, name: known.name, state: "created", tags: ["a"] }, source: "bintu" });
  t.equal(proxy.requests, 1);
  t.match(proxy.lastUrl, new RegExp(`streamname=${known.name}`), "asked with the exact-name filter");
  const warm = new Set<string>();
  for (let i = 0; i < 100; i++) warm.add((await directory.resolve(known.name)).source);
  t.same([...warm], ["cache"]);
  t.equal(proxy.requests, 1, "100 warm lookups: no request");
  clock.advance(1_001);
  t.equal((await directory.resolve(known.name)).source, "bintu");
  t.equal(proxy.requests, 2, "after the TTL: one request");
  t.equal(source.mode, "filter");
  t.same(results, ["ok", "ok"]);
});

t.test("1,000 concurrent lookups of one cold key make exactly one request", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  await proxy.setMode("slow", { delayMs: 50 });
  const { directory } = remoteDirectory(proxy, upstream);
  const answers = await Promise.all(Array.from({ length: 1_000 }, () => directory.lookup(known.name)));
  t.equal(proxy.requests, 1);
  t.ok(
    answers.every((s) => s?.id === known.id),
    "every caller got the stream",
  );
});

t.test("negative caching: an unknown key costs one request per negative TTL", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  const clock = fakeClock();
  const { directory } = remoteDirectory(proxy, upstream, { now: clock.now });
  t.same(await directory.resolve("NoSuch-Key00"), { stream: null, source: "bintu" });
  const repeated = new Set<string>();
  for (let i = 0; i < 50; i++) repeated.add((await directory.resolve("NoSuch-Key00")).source);
  t.same([...repeated], ["negative"]);
  t.equal(proxy.requests, 1, "50 lookups within the negative TTL: one request");
  clock.advance(501);
  await directory.lookup("NoSuch-Key00");
  t.equal(proxy.requests, 2);
});

// Mode → (unknown key, known key within the stale window, known key after it). Every fault
// refuses an unknown key and serves a validated one only inside the window.
const FAULTS: { mode: FaultMode; delayMs?: number; kind: RequestResult }[] = [
  { mode: "refuse", kind: "network" },
  { mode: "hang", kind: "timeout" },
  { mode: "slow", delayMs: 2_000, kind: "timeout" },
  { mode: "5xx", kind: "http_5xx" },
  { mode: "badjson", kind: "bad_json" },
  { mode: "schema", kind: "bad_schema" },
  { mode: "huge", kind: "too_large" },
  { mode: "redirect", kind: "http_3xx" },
];

// Proxies of the fault tests stay up until the end of the file, so the last test can check that
// every connection to them was closed.
const faultProxies: FaultProxy[] = [];
const root = t;

for (const fault of FAULTS) {
  t.test(`fault ${fault.mode}${fault.delayMs ? ` ${fault.delayMs} ms` : ""}: unknown refused, known served stale within the window only`, async (t) => {
    const proxy = await startFaultProxy(root, upstream.url);
    faultProxies.push(proxy);
    const clock = fakeClock();
    const results: RequestResult[] = [];
    const { directory } = remoteDirectory(proxy, upstream, { now: clock.now, source: { onRequest: (r) => results.push(r) } });
    await directory.lookup(known.name);
    clock.advance(1_001); // past the TTL: the next lookup must ask
    await proxy.setMode(fault.mode, { delayMs: fault.delayMs });

    const unknown = await timed(() => directory.lookup(other.name));
    t.type(unknown.error, EdgeError, "a key never validated fails closed");
    t.equal((unknown.error as EdgeError).code, "EDGE_ERR_BINTU_UNAVAILABLE");
    t.ok(unknown.ms <= TEST_TIMEOUT_MS + DECISION_MARGIN_MS, `decided in ${unknown.ms.toFixed(0)} ms`);

    const stale = await timed(() => directory.resolve(known.name));
    t.equal((stale.value as { source: string } | undefined)?.source, "stale", "the validated key is served stale");
    t.ok(stale.ms <= TEST_TIMEOUT_MS + DECISION_MARGIN_MS, `decided in ${stale.ms.toFixed(0)} ms`);

    clock.advance(10_000); // the last validation is now older than staleIfErrorMs
    const expired = await timed(() => directory.resolve(known.name));
    t.type(expired.error, EdgeError, "after the stale window the known key fails closed too");

    t.same(results.slice(1), [fault.kind, fault.kind, fault.kind], `counted as ${fault.kind}`);
    if (fault.mode !== "refuse") t.equal(proxy.requests, 4, "each decision made one request (no breaker here)");
  });
}

// An aborted fetch (deadline, body cap) is never reused, but undici closes its socket only when
// its keep-alive timeout (4 s) passes; without a deadline, a hanging bintu would hold it 300 s.
t.test("no connection to a faulty bintu stays open past undici's keep-alive timeout", async (t) => {
  const ms = await waitFor("every fault proxy without open connections", () => faultProxies.every((p) => p.openConnections === 0), 5_000);
  t.pass(`all closed ${ms} ms after the last fault test`);
});

t.test("slow but within the deadline: answered by bintu", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  await proxy.setMode("slow", { delayMs: 100 });
  const { directory } = remoteDirectory(proxy, upstream);
  const r = await timed(() => directory.resolve(known.name));
  t.equal((r.value as { source: string }).source, "bintu");
  t.ok(r.ms >= 100 && r.ms < TEST_TIMEOUT_MS, `${r.ms.toFixed(0)} ms`);
});

t.test("flap: forced re-checks alternate between bintu and stale, never refuse a validated key", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  const { directory } = remoteDirectory(proxy, upstream);
  await directory.lookup(known.name);
  await proxy.setMode("flap");
  const sources: string[] = [];
  for (let i = 0; i < 6; i++) sources.push((await directory.resolve(known.name, { fresh: true })).source);
  t.same(sources, ["bintu", "stale", "bintu", "stale", "bintu", "stale"]);
});

t.test("a wrong API key is an error (401), never an answer", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  const results: RequestResult[] = [];
  const { directory } = remoteDirectory(proxy, { ...upstream, apiKey: "wrong" }, { source: { onRequest: (r) => results.push(r) } });
  await t.rejects(directory.lookup(known.name), { code: "EDGE_ERR_BINTU_UNAVAILABLE", message: /HTTP 401/ });
  t.same(results, ["http_4xx"]);
});

t.test("a server without the streamname filter: list sync, answered from the index", async (t) => {
  const proxy = await startFaultProxy(t, upstream.url);
  await proxy.setMode("strip");
  const clock = fakeClock();
  const { directory, source } = remoteDirectory(proxy, upstream, { now: clock.now, source: { syncIntervalMs: 30_000 } });
  t.same((await directory.lookup(known.name))?.id, known.id);
  t.equal(source.mode, "sync", "detected from an answer holding other names");
  t.same((await directory.lookup(other.name))?.id, other.id);
  t.equal(await directory.lookup("NoSuch-Key01"), null, "a name outside the list is unknown");
  t.equal(proxy.requests, 1, "detection, index and three answers from one request");
  t.match(proxy.lastUrl, /quantity=1000/);

  await upstream.change(other.id, "lock");
  clock.advance(29_000);
  t.equal((await directory.resolve(other.name, { fresh: true })).stream?.state, "created", "index not yet re-read");
  clock.advance(1_000);
  t.equal((await directory.resolve(other.name, { fresh: true })).stream?.state, "locked", "re-read after syncIntervalMs");
  t.equal(proxy.requests, 2);
  await upstream.change(other.id, "unlock");
});
