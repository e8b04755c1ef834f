// The breaker's state machine with a fake clock (src/bintu/breaker.ts).
import t from "tap";
import { CircuitBreaker, type BreakerState } from "../../src/bintu/breaker.js";

function breaker(failures = 3, cooldownMs = 1_000) {
  const clock = { t: 0 };
  const states: BreakerState[] = [];
  const b = new CircuitBreaker({ failures, cooldownMs, now: () => clock.t, onState: (s) => states.push(s) });
  return { b, clock, states };
}

t.test("opens after N consecutive failures; a success in between resets the count", async (t) => {
  const { b } = breaker(3);
  b.failure();
  b.failure();
  b.success();
  b.failure();
  b.failure();
  t.equal(b.state, "closed");
  t.ok(b.tryAcquire());
  b.failure();
  t.equal(b.state, "open");
  t.notOk(b.tryAcquire(), "open: calls fail fast");
});

t.test("one probe after the cool-down; it closes or re-opens the breaker", async (t) => {
  const { b, clock, states } = breaker(1, 1_000);
  b.failure();
  clock.t = 999;
  t.notOk(b.tryAcquire(), "1 ms before the cool-down ends");
  clock.t = 1_000;
  t.ok(b.tryAcquire(), "the probe");
  t.notOk(b.tryAcquire(), "only one probe at a time");
  b.failure();
  t.equal(b.state, "open");
  clock.t = 1_999;
  t.notOk(b.tryAcquire(), "the cool-down restarts from the failed probe");
  clock.t = 2_000;
  t.ok(b.tryAcquire());
  b.success();
  t.equal(b.state, "closed");
  t.same(states, ["open", "half_open", "open", "half_open", "closed"]);
});

t.test("a probe the caller gave up on (release) lets the next call probe at once", async (t) => {
  const { b, clock } = breaker(1, 1_000);
  b.failure();
  clock.t = 1_000;
  t.ok(b.tryAcquire());
  b.release();
  t.equal(b.state, "open");
  t.ok(b.tryAcquire(), "no new cool-down");
});

t.test("late results of calls started before the breaker opened", async (t) => {
  const { b, clock } = breaker(1, 1_000);
  b.failure();
  clock.t = 500;
  b.failure();
  clock.t = 1_000;
  t.ok(b.tryAcquire(), "a late failure does not extend the cool-down");
  b.release();
  b.success();
  t.equal(b.state, "closed", "a late success is evidence the source works");
});
