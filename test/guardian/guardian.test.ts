// The live Guardian (issue 5 §4-§7): API ∪ file rules, swapped at once on an API change and
// within 1 s of a file change, onRulesChanged for enforceOnActive, counters, geo only when needed.
import t, { type Test } from "tap";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Guardian, type GuardianCounters } from "../../src/guardian/guardian.js";
import { parseRule } from "../../src/guardian/rules.js";
import type { Snapshot } from "../../src/guardian/snapshot.js";
import type { RuleChange } from "../../src/guardian/rule-store.js";
import { GuardianStore } from "../../src/guardian/store.js";
import { waitFor } from "../helpers/wait.js";
import { ip as ipRule, NOW } from "./helpers.js";

function setup(t: Test, opts: { dir?: string; file?: string; geo?: (ip: string) => string | undefined } = {}) {
  const clock = { now: NOW };
  const now = () => clock.now;
  const store = GuardianStore.open(join(opts.dir ?? t.testdir(), "data"), { ipRuleTtlMs: 86_400_000, now });
  const counts: string[] = [];
  const geoCalls: string[] = [];
  const counters: GuardianCounters = {
    decision: (a, r, k) => counts.push(`decision ${a} ${r} ${k}`),
    wouldDeny: (a, k) => counts.push(`would-deny ${a} ${k}`),
    reload: (s, r) => counts.push(`reload ${s} ${r}`),
    rules: (c) =>
      counts.push(`rules ip=${c.ip.enforce}+${c.ip.report} referer=${c.referer.enforce}+${c.referer.report} country=${c.country.enforce}+${c.country.report}`),
  };
  const guardian = new Guardian({
    apiRules: store,
    rulesFile: opts.file,
    allowMissingReferer: true,
    counters,
    now,
    fileDebounceMs: 20,
    geo: { lookup: (ip) => (geoCalls.push(ip), { country: opts.geo?.(ip), source: "mmdb" }) },
  });
  t.teardown(() => {
    guardian.close();
    store.close();
  });
  const add = (kind: "ip" | "referer" | "country", body: Record<string, unknown>) => store.add(parseRule(kind, body, { source: "api", nowMs: now() }));
  const play = (ip: string, more: object = {}) => guardian.decide({ action: "play", ip, stream: "AbCdE-12345", tags: [], ...more });
  return { guardian, store, add, play, counts, geoCalls, clock };
}

t.test("an API change is in force when add() returns; onRulesChanged sees both snapshots", async (t) => {
  const { guardian, add, play, store } = setup(t);
  const swaps: [Snapshot, Snapshot][] = [];
  guardian.onRulesChanged((cur, prev) => swaps.push([cur, prev]));
  t.equal(play("203.0.113.5").allow, true);
  const before = guardian.snapshot;
  const rule = await add("ip", { ip: "203.0.113.0/24", type: "deny" });
  t.same(play("203.0.113.5"), { allow: false, ruleId: rule.id, kind: "ip" });
  t.equal(swaps.length, 1);
  t.equal(swaps[0][1], before, "previous snapshot");
  t.equal(swaps[0][0], guardian.snapshot, "current snapshot");
  await store.remove(rule.id);
  t.equal(play("203.0.113.5").allow, true);
});

t.test("file rules and API rules together; a file change is in force within 1 s", async (t) => {
  const dir = t.testdir();
  const file = join(dir, "rules.yaml");
  writeFileSync(file, "rules:\n  - ip: 198.51.100.0/24\n    type: deny\n");
  const { guardian, add, play, counts } = setup(t, { dir, file });
  const api = await add("ip", { ip: "203.0.113.0/24", type: "deny" });
  t.same(play("198.51.100.1"), { allow: false, ruleId: "file:1", kind: "ip" });
  t.same(play("203.0.113.1"), { allow: false, ruleId: api.id, kind: "ip" });
  writeFileSync(file, "rules:\n  - ip: 198.51.100.0/24\n    type: allow\n");
  const ms = await waitFor("the file change", () => play("198.51.100.1").allow, 1000);
  t.ok(ms < 1000, `applied after ${ms} ms`);
  t.same(play("203.0.113.1"), { allow: false, ruleId: api.id, kind: "ip" }, "API rules untouched");
  writeFileSync(file, "rules:\n  - ip: 198.51.100.0/33\n    type: deny\n");
  await waitFor("the failed reload", () => counts.includes("reload file error"), 1000);
  t.equal(play("198.51.100.1").allow, true, "the bad file changed nothing");
  t.equal(guardian.snapshot.rules.length, 2);
});

t.test("counters: decisions, report-mode would-denies, reloads, rules by kind and mode", async (t) => {
  const { add, play, counts } = setup(t);
  counts.length = 0;
  await add("ip", { ip: "10.0.0.0/8", type: "deny" });
  await add("referer", { domain: "*", type: "deny", mode: "report" });
  play("10.0.0.1");
  play("192.0.2.1", { referer: "https://x.com/" });
  play("192.0.2.1");
  // Two adds before a decision share one compile (issue 18 §6): one reload.
  t.same(counts, [
    "reload api ok",
    "rules ip=1+0 referer=0+1 country=0+0",
    "decision play deny ip",
    "decision play allow none",
    "would-deny play referer",
    "decision play allow none",
  ]);
});

t.test("geo is asked only when a country rule exists, and only without a given country", async (t) => {
  const { add, play, geoCalls } = setup(t, { geo: (ip) => (ip === "203.0.113.9" ? "CN" : "DE") });
  play("203.0.113.9");
  t.same(geoCalls, [], "no country rules: no lookup");
  const cn = await add("country", { country: "CN", type: "deny" });
  t.same(play("203.0.113.9"), { allow: false, ruleId: cn.id, kind: "country" });
  t.equal(play("192.0.2.1").allow, true);
  t.equal(play("203.0.113.9", { country: "DE" }).allow, true, "a country passed in wins");
  t.same(geoCalls, ["203.0.113.9", "192.0.2.1"]);
});

t.test("expiry follows the injected clock, without waiting for a recompile", async (t) => {
  const { add, play, clock } = setup(t);
  const rule = await add("ip", { ip: "203.0.113.0/24", type: "deny", ttlSeconds: 60 });
  t.same(play("203.0.113.1"), { allow: false, ruleId: rule.id, kind: "ip" });
  clock.now += 60_000;
  t.equal(play("203.0.113.1").allow, true);
});

t.test("enforceOnActive: onRulesChanged + check() re-decides running sessions without counting them", async (t) => {
  const { guardian, add, counts } = setup(t);
  const sessions = [
    { action: "play" as const, ip: "203.0.113.7", stream: "AbCdE-12345", tags: [], referer: "https://app.example.com/" },
    { action: "play" as const, ip: "198.51.100.1", stream: "AbCdE-12345", tags: [] },
  ];
  const ended: string[] = [];
  guardian.onRulesChanged((snap) => {
    for (const s of sessions) {
      const d = guardian.check(s, snap);
      if (!d.allow) ended.push(`${s.ip} ${d.kind}`);
    }
  });
  counts.length = 0;
  await add("ip", { ip: "203.0.113.0/24", type: "deny" });
  t.same(ended, [], "compiled lazily: not yet");
  void guardian.snapshot; // a read (a new decision) compiles; so does BATCH_MS passing
  t.same(ended, ["203.0.113.7 ip"]);
  t.notOk(
    counts.some((c) => c.startsWith("decision")),
    "re-checks are not counted as decisions",
  );
});

t.test("a burst of changes to a large rule set: compiles are spaced, each change in force within 1 s", async (t) => {
  const listeners = new Set<(c: RuleChange) => void>();
  const base = Array.from({ length: 40_000 }, (_, i) => ipRule(`10.${i >> 8}.${i & 255}.0/24`, "deny", {}, { id: `b${i}` }));
  const compiles: number[] = [];
  const guardian = new Guardian({
    apiRules: { list: () => base, onChange: (l) => (listeners.add(l), () => listeners.delete(l)) },
    allowMissingReferer: true,
    counters: { reload: () => compiles.push(performance.now()) },
  });
  t.teardown(() => guardian.close());
  compiles.length = 0;
  const started = performance.now();
  for (let i = 0; i < 20; i++) {
    const added = ipRule(`198.51.100.${i}`, "deny", {}, { id: `burst${i}` });
    for (const l of listeners) l({ added });
  }
  const play = (ip: string) => guardian.decide({ action: "play", ip, stream: "s", tags: [] });
  const ms = await waitFor("the last change", () => !play("198.51.100.19").allow, 1000);
  t.ok(ms < 1000, `all 20 in force ${Math.round(performance.now() - started)} ms after the first`);
  t.ok(compiles.length < 20, `${compiles.length} compiles for 20 changes`);
  t.same(play("10.1.2.3"), { allow: false, ruleId: "b258", kind: "ip" });
});
