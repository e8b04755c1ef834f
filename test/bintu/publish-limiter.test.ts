// The per-IP failed-publish limiter (src/access/publish-limiter.ts, issue 4 §5) with a fake clock.
// It sits in test/bintu beside the other remote-bintu protections it works with.
import t from "tap";
import { PublishLimiter } from "../../src/access/publish-limiter.js";

const MINUTE = 60_000;

t.test("the 10th failure within a minute blocks the IP for the cool-down; other IPs are untouched", async (t) => {
  const limiter = new PublishLimiter({ maxPerMinute: 10, cooldownMs: MINUTE });
  const now = 1_000;
  for (let i = 0; i < 9; i++) limiter.recordFailure("198.51.100.1", now + i);
  t.notOk(limiter.blocked("198.51.100.1", now + 9), "9 failures: still allowed to try");
  limiter.recordFailure("198.51.100.1", now + 9);
  t.ok(limiter.blocked("198.51.100.1", now + 10), "the 10th failure blocks");
  t.notOk(limiter.blocked("198.51.100.2", now + 10), "another IP is not blocked");
  t.ok(limiter.blocked("198.51.100.1", now + 9 + MINUTE - 1), "1 ms before the cool-down ends: blocked");
  t.notOk(limiter.blocked("198.51.100.1", now + 9 + MINUTE), "at its end: allowed again");
  t.same(limiter.stats(), { failures: 10, blocks: 1, refusals: 2, tracked: 1 });
});

t.test("failures spread out refill the bucket: an honest retry loop is never blocked", async (t) => {
  const limiter = new PublishLimiter({ maxPerMinute: 10, cooldownMs: MINUTE });
  // One failure every 6 s is exactly the refill rate of 10 per minute.
  let blocked = 0;
  for (let i = 0; i < 1_000; i++) {
    const now = 1_000 + i * 6_000;
    if (limiter.blocked("192.0.2.9", now)) blocked++;
    limiter.recordFailure("192.0.2.9", now);
  }
  t.equal(blocked, 0, "1,000 failures 6 s apart: never blocked");
  t.equal(limiter.stats().blocks, 0);
});

t.test("a repeat offender is blocked again after a short cool-down, within a few tries", async (t) => {
  const limiter = new PublishLimiter({ maxPerMinute: 10, cooldownMs: 10_000 });
  let now = 1_000;
  for (let i = 0; i < 10; i++) limiter.recordFailure("192.0.2.1", now);
  now += 10_000; // the bucket refilled only 10 s × 10/min ≈ 1.7 tokens
  t.notOk(limiter.blocked("192.0.2.1", now));
  limiter.recordFailure("192.0.2.1", now);
  t.ok(limiter.blocked("192.0.2.1", now), "blocked again after one more failure");
  t.equal(limiter.stats().blocks, 2);
});

t.test("memory is bounded: 10,000 scanning IPs leave at most maxEntries tracked", async (t) => {
  const limiter = new PublishLimiter({ maxPerMinute: 10, cooldownMs: MINUTE, maxEntries: 100 });
  for (let i = 0; i < 10_000; i++) limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`, 1_000 + i);
  t.equal(limiter.stats().tracked, 100);
});
