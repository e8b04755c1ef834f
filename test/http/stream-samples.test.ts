// The stream page's chart history (src/http/stream-samples.ts): rates from byte-count deltas,
// viewers counted, old samples dropped, the number of streams bounded. Times are handed in.
import t from "tap";
import { StreamSamples, type SampledSession } from "../../src/http/stream-samples.js";

function session(role: string, name: string, bytes: { n: number }): SampledSession {
  return { role, name, bytesIn: () => bytes.n };
}

t.test("bitrate from the publisher's bytes, viewers from the players", async (t) => {
  const a = { n: 0 };
  const sessions = [session("publisher", "a", a), session("player", "a", { n: 0 }), session("player", "a", { n: 0 }), session("relay", "a", { n: 0 })];
  const samples = new StreamSamples(() => sessions, { keepMs: 60_000 });
  samples.sample(1000);
  a.n = 125_000; // 1 Mbit in the next second
  samples.sample(2000);
  t.same(samples.of("a"), [
    { at: 1000, kbps: 0, viewers: 2 },
    { at: 2000, kbps: 1000, viewers: 2 },
  ]);
  t.same(samples.of("b"), []);
  // A new publishing session starts its counter again: no negative rate.
  a.n = 10;
  samples.sample(3000);
  t.equal(samples.of("a").at(-1)?.kbps, 0);
  // Past keepMs the samples go, and a stream with none is forgotten.
  sessions.length = 0;
  samples.sample(62_000);
  t.same(
    samples.of("a").map((s) => s.at),
    [3000],
    "samples at or before now - keepMs are gone",
  );
  samples.sample(70_000);
  t.same(samples.of("a"), []);
});

t.test("streams kept are bounded", async (t) => {
  const sessions = Array.from({ length: 5 }, (_, i) => session("publisher", `s${i}`, { n: 0 }));
  const samples = new StreamSamples(() => sessions, { maxStreams: 3 });
  samples.sample(1000);
  t.same(
    sessions.map((s) => samples.of(s.name).length),
    [1, 1, 1, 0, 0],
  );
});
