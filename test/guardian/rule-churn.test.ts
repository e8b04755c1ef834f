// Guardian rules at scale (issue 18 §6): adding a rule does not compile the whole set (a burst of
// adds shares one compile; a single add or delete goes into a delta layer on top of the compiled
// base, which is folded later, off the request path), and memory returns after deletes — 10,000
// rules added and deleted five times, the heap after a full GC stays flat.
// No timing threshold: compiles are counted, the base is compared by identity, memory is measured
// after forced collections.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import t from "tap";
import { Guardian } from "../../src/guardian/guardian.js";
import { parseRule } from "../../src/guardian/rules.js";
import { GuardianStore } from "../../src/guardian/store.js";
import { waitFor } from "../helpers/wait.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const RULES = 10_000;

function heapAfterGc(): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

t.test("10,000 rules added and deleted five times: few compiles, the heap stays flat", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bintu-edge-churn-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = GuardianStore.open(dir, { ipRuleTtlMs: 0 });
  let compiles = 0;
  const guardian = new Guardian({ apiRules: store, allowMissingReferer: true, counters: { reload: () => compiles++ } });
  t.teardown(() => {
    guardian.close();
    store.close();
  });
  const play = (ip: string) => guardian.decide({ action: "play", ip, stream: "AbCdE-12345", tags: [] });

  const heaps: number[] = [];
  for (let round = 0; round < 5; round++) {
    compiles = 0;
    const ids: string[] = [];
    for (let i = 0; i < RULES; i++) {
      const draft = parseRule("ip", { ip: `10.${(i >> 8) & 255}.${i & 255}.0/24`, type: "deny" }, { source: "api", nowMs: Date.now() });
      ids.push((await store.add(draft)).id);
    }
    t.equal(store.count(), RULES);
    t.equal(play(`10.${((RULES - 1) >> 8) & 255}.${(RULES - 1) & 255}.7`).allow, false, "the last rule added is in force at the next decision");
    t.ok(compiles <= 3, `round ${round + 1}: ${RULES} adds cost ${compiles} compile(s), not one per add`);
    for (const id of ids) await store.remove(id);
    t.equal(play("10.0.0.7").allow, true, "all deleted: nothing refused");
    t.equal(store.count(), 0);
    heaps.push(heapAfterGc());
  }
  const mb = heaps.map((h) => (h / 1048576).toFixed(1));
  t.comment(`heap after each round (MB): ${mb.join(", ")}`);
  // Flat: after a full GC the heap swings by ~2 MB from round to round (which garbage the last
  // collection caught). A leak of the 10,000 rules (hundreds of bytes each, plus their tables)
  // would add megabytes per round, over 4 MB across the last four rounds.
  const growth = heaps[4] - Math.min(heaps[0], heaps[1]);
  t.ok(growth < 4 * 1048576, `heap flat after deletes: ${mb.join(" → ")} MB`);
});

t.test("one add or delete on 10,000 rules leaves the compiled base alone; the delta is folded in the background", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bintu-edge-delta-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = GuardianStore.open(dir, { ipRuleTtlMs: 0 });
  const ids: string[] = [];
  for (let i = 0; i < RULES; i++) {
    const draft = parseRule("ip", { ip: `10.${(i >> 8) & 255}.${i & 255}.0/24`, type: "deny" }, { source: "api", nowMs: Date.now() });
    ids.push((await store.add(draft)).id);
  }
  const swaps: number[] = [];
  const guardian = new Guardian({ apiRules: store, allowMissingReferer: true });
  guardian.onRulesChanged(() => swaps.push(1));
  t.teardown(() => {
    guardian.close();
    store.close();
  });
  const play = (ip: string) => guardian.decide({ action: "play", ip, stream: "AbCdE-12345", tags: [] });
  const base = guardian.snapshot.base;
  t.equal(base.rules.length, RULES);

  const added = await store.add(parseRule("ip", { ip: "192.0.2.7", type: "deny" }, { source: "api", nowMs: Date.now() }));
  t.same(play("192.0.2.7"), { allow: false, ruleId: added.id, kind: "ip" }, "the add is in force at the next decision");
  t.equal(guardian.snapshot.base, base, "…without compiling the 10,000 rules again");
  t.equal(guardian.snapshot.delta?.rules.length, 1, "the add is a delta of one rule");
  t.equal(play("10.0.5.1").allow, false);
  await store.remove(ids[5]);
  t.equal(play("10.0.5.1").allow, true, "the delete is in force at the next decision");
  t.equal(guardian.snapshot.base, base, "…still on the same base");
  t.equal(guardian.snapshot.masked.size, 1, "the deleted rule is masked");
  t.equal(guardian.snapshot.counts.ip.enforce, RULES, "counts: one added, one deleted");
  t.equal(swaps.length, 2, "each change announced once (enforceOnActive re-checks)");

  await waitFor("the background fold", () => guardian.snapshot.base !== base, 5000);
  t.equal(guardian.snapshot.delta, null, "folded: no delta");
  t.equal(guardian.snapshot.base.rules.length, RULES, "the new base holds the rules in force");
  t.equal(swaps.length, 2, "a fold changes no decision and is not announced");
  t.same(play("192.0.2.7"), { allow: false, ruleId: added.id, kind: "ip" });
  t.equal(play("10.0.5.1").allow, true);
  t.equal(play("10.0.6.1").allow, false);
});
