// Property test (issue 18 §6): a rule set changed incrementally — adds, refreshes under the same id
// and removals on top of a compiled base, with folds in between — decides exactly as one fresh
// compile of the same rules, for every request after every change. The fresh compile is itself
// held to the brute-force reference by snapshot-property.test.ts.
import t from "tap";
import fc from "fast-check";
import { RuleLayers } from "../../src/guardian/layers.js";
import type { Rule } from "../../src/guardian/rules.js";
import { compile, decide, type DecideRequest, type Snapshot } from "../../src/guardian/snapshot.js";
import { addressesFor, NOW, queryArb, ruleArb, ruleOf } from "./arbitraries.js";

const opArb = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("add" as const), spec: ruleArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("remove" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("refresh" as const), pick: fc.nat(), spec: ruleArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("fold" as const) }) },
);

/** What both must agree on besides decisions: the rules in force and what the Guardian reads of them. */
function facts(s: Snapshot) {
  return {
    rules: s.rules.map((r) => r.id),
    counts: s.counts,
    needsCountry: s.needsCountry,
    hasReferer: s.hasReferer,
    hasReport: s.hasReport,
    tagScoped: s.tagScoped,
  };
}

let decisions = 0;
let layeredChecks = 0;
let steps = 0;

t.test("incremental changes decide exactly as a fresh compile", async (t) => {
  fc.assert(
    fc.property(
      fc.array(ruleArb, { maxLength: 12 }),
      fc.array(opArb, { minLength: 1, maxLength: 24 }),
      fc.array(queryArb, { minLength: 8, maxLength: 8 }),
      fc.integer(),
      (initial, ops, queries, seed) => {
        let next = 0;
        const model = new Map<string, Rule>();
        const seen: Rule[] = [];
        const layers = new RuleLayers();
        const put = (r: Rule) => {
          model.set(r.id, r);
          seen.push(r);
        };
        for (const spec of initial) put(ruleOf(spec, `r${next++}`));
        layers.replaceApi([...model.values()]);
        layers.fold(NOW);
        let x = seed;
        const rnd = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) < 0 ? -x : x) / 2 ** 31;
        for (const o of ops) {
          const ids = [...model.keys()];
          if (o.op === "add") {
            const r = ruleOf(o.spec, `r${next++}`);
            put(r);
            layers.add(r);
          } else if (o.op === "fold") layers.fold(NOW);
          else if (ids.length > 0) {
            const id = ids[o.pick % ids.length];
            if (o.op === "remove") {
              model.delete(id);
              layers.remove(id);
            } else {
              const r = ruleOf(o.spec, id);
              put(r);
              layers.add(r);
            }
          }
          steps++;
          const got = layers.snapshot(NOW);
          const want = compile([...model.values()], NOW);
          if (got.delta !== null) layeredChecks++;
          const a = JSON.stringify(facts(got));
          const b = JSON.stringify(facts(want));
          if (a !== b) throw new Error(`after ${o.op}: snapshot facts ${a}, fresh compile ${b}`);
          if (got.nextExpiry > want.nextExpiry) throw new Error(`nextExpiry ${got.nextExpiry} later than the fresh compile's ${want.nextExpiry}`);
          // Addresses around every rule ever seen: removed rules' ranges must now fall through.
          let k = 0;
          for (const forms of addressesFor(seen, rnd)) {
            const ip = forms[k % forms.length];
            const q = queries[k++ % queries.length];
            const req: DecideRequest = { ...q, ip, nowMs: NOW + q.later * 1000 };
            const opts = { allowMissingReferer: q.allowMissingReferer };
            const g = JSON.stringify(decide(got, req, opts));
            const w = JSON.stringify(decide(want, req, opts));
            decisions++;
            if (g !== w) throw new Error(`after ${o.op}: ${g} ≠ fresh ${w}\nrules ${JSON.stringify([...model.values()])}\nreq ${JSON.stringify(req)}`);
            const d = decide(got, req, opts);
            if (d.allow) for (const id of d.reportedRuleIds) if (got.reportRule(id)?.id !== id) throw new Error(`reportRule(${id}) not found`);
          }
        }
      },
    ),
    { seed: 1818, numRuns: 300 },
  );
  t.comment(`${decisions} decisions over ${steps} changes, ${layeredChecks} of them with a delta on top of the base`);
  t.ok(decisions > 20_000, `enough decisions (${decisions})`);
  t.ok(layeredChecks > steps / 2, "most checks ran against a base with a delta and a mask");
});

t.test("a removed permanent rule no longer shadows the rules behind it", async (t) => {
  const rule = (id: string, value: string, type: "deny" | "allow", createdAt: number): Rule => ({
    id,
    kind: "ip",
    value,
    type,
    actions: ["play"],
    scope: {},
    mode: "enforce",
    createdAt,
    source: "api",
  });
  const layers = new RuleLayers();
  layers.replaceApi([rule("wide", "10.0.0.0/8", "deny", 1), rule("narrow", "10.1.0.0/16", "allow", 2), rule("twin", "10.1.0.0/16", "deny", 3)]);
  layers.fold(NOW);
  const play = (s: Snapshot, ip: string) => decide(s, { action: "play", ip, stream: "s", tags: [], nowMs: NOW }, { allowMissingReferer: true });
  t.same(play(layers.snapshot(NOW), "10.1.2.3"), { allow: false, ruleId: "twin", kind: "ip" }, "same prefix: deny first");
  layers.remove("twin");
  t.same(play(layers.snapshot(NOW), "10.1.2.3"), { allow: true, reportedRuleIds: [] }, "the allow behind it");
  layers.remove("narrow");
  t.same(play(layers.snapshot(NOW), "10.1.2.3"), { allow: false, ruleId: "wide", kind: "ip" }, "then the parent range");
  t.equal(layers.pending, 2);
  t.same(play(layers.fold(NOW), "10.1.2.3"), { allow: false, ruleId: "wide", kind: "ip" }, "the same after a fold");
  t.equal(layers.pending, 0);
});
