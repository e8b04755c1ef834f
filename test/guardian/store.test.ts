// API rules in dataDir/guardian.sqlite (issue 5 §2): persistence across reopen, the IP default
// expiry, refresh of an identical rule, filters, delete, change listeners.
import t from "tap";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseRule } from "../../src/guardian/rules.js";
import type { RuleChange } from "../../src/guardian/rule-store.js";
import { GuardianStore } from "../../src/guardian/store.js";
import { NOW } from "./helpers.js";

const DAY = 86_400_000;
const draft = (kind: "ip" | "referer" | "country", body: Record<string, unknown>) => parseRule(kind, body, { source: "api", nowMs: NOW });

t.test("rules persist in the data dir and survive a reopen", async (t) => {
  const dir = t.testdir();
  let now = NOW;
  const store = GuardianStore.open(join(dir, "data"), { ipRuleTtlMs: DAY, now: () => now });
  const a = await store.add(draft("ip", { ip: "103.13.113.0/24", type: "deny", tag: "abuse" }));
  const b = await store.add(draft("referer", { domain: "*", type: "deny", info: "allow-list", stream: "AbCdE-12345" }));
  const c = await store.add(draft("country", { country: "CN", type: "deny", tagScope: "eu-only", actions: ["play", "publish"], mode: "report" }));
  t.ok(existsSync(join(dir, "data", "guardian.sqlite")));
  store.close();
  const again = GuardianStore.open(join(dir, "data"), { ipRuleTtlMs: DAY, now: () => now });
  t.teardown(() => again.close());
  t.same(again.list(), [a, b, c]);
  t.same(a, {
    id: a.id,
    kind: "ip",
    value: "103.13.113.0/24",
    type: "deny",
    actions: ["play"],
    scope: {},
    expiresAt: NOW + DAY,
    tag: "abuse",
    mode: "enforce",
    createdAt: NOW,
    source: "api",
  });
  t.equal(b.expiresAt, undefined, "referrer rules last until removed (nanoStream)");
  t.same(again.list({ kind: "referer" }), [b]);
  t.same(again.list({ stream: "AbCdE-12345" }), [b]);
  t.same(again.list({ tag: "eu-only" }), [c]);
  t.same(again.list({ kind: "ip", tag: "eu-only" }), []);
  now = NOW + DAY;
  t.same(again.list(), [b, c], "the IP rule expired after 24 h");
  t.equal(again.get(a.id), undefined);
});

t.test("IP expiry: explicit, never (ttlSeconds 0), and ipRuleTtlMs 0", async (t) => {
  const store = GuardianStore.open(t.testdir(), { ipRuleTtlMs: DAY, now: () => NOW });
  t.teardown(() => store.close());
  t.equal((await store.add(draft("ip", { ip: "1.1.1.1", type: "deny", ttlSeconds: 60 }))).expiresAt, NOW + 60_000);
  t.equal((await store.add(draft("ip", { ip: "1.1.1.2", type: "deny", ttlSeconds: 0 }))).expiresAt, undefined);
  const never = GuardianStore.open(t.testdir(), { ipRuleTtlMs: 0, now: () => NOW });
  t.teardown(() => never.close());
  t.equal((await never.add(draft("ip", { ip: "1.1.1.3", type: "deny" }))).expiresAt, undefined);
});

t.test("posting the same rule again refreshes it and keeps its id", async (t) => {
  let now = NOW;
  const store = GuardianStore.open(t.testdir(), { ipRuleTtlMs: DAY, now: () => now });
  t.teardown(() => store.close());
  const first = await store.add(draft("ip", { ip: "198.51.100.7", type: "deny", tag: "first" }));
  now += 1000;
  const second = await store.add(draft("ip", { ip: "198.51.100.7", type: "deny", tag: "second" }));
  t.equal(second.id, first.id);
  t.equal(second.expiresAt, NOW + 1000 + DAY);
  t.equal(second.tag, "second");
  t.equal(second.createdAt, NOW);
  t.equal(store.list().length, 1);
  t.not((await store.add(draft("ip", { ip: "198.51.100.7", type: "allow" }))).id, first.id, "another type is another rule");
  t.not((await store.add(draft("ip", { ip: "198.51.100.7", type: "deny", stream: "AbCdE-12345" }))).id, first.id, "another scope too");
});

t.test("delete, by kind; change listeners get what changed", async (t) => {
  const store = GuardianStore.open(t.testdir(), { ipRuleTtlMs: DAY });
  t.teardown(() => store.close());
  const changes: RuleChange[] = [];
  const off = store.onChange((c) => changes.push(c));
  const r = await store.add(draft("referer", { domain: "bad.com", type: "deny" }));
  t.equal(await store.remove(r.id, "ip"), false, "the kind must match");
  t.equal(await store.remove(r.id, "referer"), true);
  t.equal(await store.remove(r.id), false);
  t.same(changes, [{ added: r }, { removed: r.id }], "add and remove; a miss is no change");
  off();
  await store.add(draft("referer", { domain: "bad.com", type: "deny" }));
  t.equal(changes.length, 2);
});

t.test("enforceOnActive is stored, set by a refresh, and added to a data dir from before it", async (t) => {
  const dir = t.testdir();
  const Database = (await import("better-sqlite3")).default;
  // A table as it was before the column (the schema of issue 5).
  const old = new Database(join(dir, "guardian.sqlite"));
  old.exec(`CREATE TABLE rules (id TEXT PRIMARY KEY, identity TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, value TEXT NOT NULL, type TEXT NOT NULL,
    actions TEXT NOT NULL, scope_stream TEXT, scope_tag TEXT, expires_at INTEGER, info TEXT, tag TEXT, mode TEXT NOT NULL, created_at INTEGER NOT NULL)`);
  old.prepare("INSERT INTO rules VALUES ('r0', 'x', 'ip', '192.0.2.1', 'deny', '[\"play\"]', NULL, NULL, NULL, NULL, NULL, 'enforce', 1)").run();
  old.close();
  const store = GuardianStore.open(dir, { ipRuleTtlMs: 0, now: () => NOW });
  t.teardown(() => store.close());
  t.equal(store.get("r0")?.enforceOnActive, undefined, "an old rule has no flag");
  const ctx = { source: "api" as const, nowMs: NOW };
  const plain = await store.add(parseRule("ip", { ip: "192.0.2.2", type: "deny" }, ctx));
  t.equal(plain.enforceOnActive, undefined);
  const flagged = await store.add(parseRule("ip", { ip: "192.0.2.2", type: "deny", enforceOnActive: true }, ctx));
  t.equal(flagged.id, plain.id, "the same rule, refreshed");
  t.equal(store.get(plain.id)?.enforceOnActive, true, "the refresh set the flag");
  t.throws(() => parseRule("ip", { ip: "192.0.2.3", type: "deny", enforceOnActive: "yes" }, ctx), /enforceOnActive/);
  t.throws(() => parseRule("ip", { ip: "192.0.2.3", type: "deny", enforceOnActive: true }, { source: "file", nowMs: NOW }), /unknown field/);
});
