// StickyMemory with a fake clock: remembered for ttl after the last use, one entry per slot.
import t from "tap";
import { StickyMemory } from "../../src/routing/sticky.js";

t.test("remembered for ttl after its last use", async (t) => {
  let now = 0;
  const m = new StickyMemory(1_000, 100, () => now);
  t.equal(m.get(7), undefined, "empty");
  m.set(7, "e1");
  now = 999;
  t.equal(m.get(7), "e1");
  m.set(7, "e1"); // refreshed
  now = 1_998;
  t.equal(m.get(7), "e1", "ttl counts from the last use");
  now = 1_999;
  t.equal(m.get(7), undefined, "forgotten after ttl");
  m.set(7, "e2");
  t.equal(m.get(7), "e2", "a new answer replaces the old");
  t.equal(m.get(0), undefined, "key 0 is a key like any other, not the empty marker");
  m.set(0, "e3");
  t.equal(m.get(0), "e3");
});

t.test("4 × maxEntries slots: a colliding pair replaces the older, others stay", async (t) => {
  const m = new StickyMemory(60_000, 100, () => 0); // 512 slots
  for (let k = 0; k < 400; k++) m.set(k, `e${k % 3}`);
  let kept = 0;
  for (let k = 0; k < 400; k++) if (m.get(k) === `e${k % 3}`) kept++;
  t.equal(kept, 400, "distinct slots: all kept");
  m.set(5 + 512, "other");
  t.equal(m.get(5), undefined, "same slot, different key: the older is forgotten");
  t.equal(m.get(5 + 512), "other");
  t.equal(m.get(6), "e0");
});
