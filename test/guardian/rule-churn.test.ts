// Guardian rules at scale (issue 18 §6): adding a rule does not compile the whole set (a burst of
// adds shares one compile, so an add's cost does not grow with the set), and memory returns after
// deletes — 10,000 rules added and deleted five times, the heap after a full GC stays flat.
// No timing threshold: compiles are counted, memory is measured after forced collections.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import t from "tap";
import { Guardian } from "../../src/guardian/guardian.js";
import { parseRule } from "../../src/guardian/rules.js";
import { GuardianStore } from "../../src/guardian/store.js";

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
