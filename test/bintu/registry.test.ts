import t, { type Test } from "tap";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadOrCreateApiKey } from "../../src/bintu/registry/api-key.js";
import { generateOrgHash, generateStreamName, isValidStreamName } from "../../src/bintu/registry/names.js";
import { StreamRegistry, type StreamRecord } from "../../src/bintu/registry/registry.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A registry in a fresh test dir, closed when the test ends. */
function openRegistry(t: Test, orgHash = "OrgAB"): { registry: StreamRegistry; dir: string } {
  const dir = t.testdir();
  const registry = StreamRegistry.open(dir, { orgHash });
  t.teardown(() => registry.close());
  return { registry, dir };
}

t.test("create, get and findByName", async (t) => {
  const { registry } = openRegistry(t);
  const rec = registry.create(["a", "key1:value1"]);
  t.match(rec.id, UUID_V4);
  t.match(rec.name, /^OrgAB-[A-Za-z0-9]{11}$/);
  t.equal(rec.state, "created");
  t.same(rec.tags, ["a", "key1:value1"]);
  t.equal(rec.everLive, false);
  t.equal(new Date(rec.createdAt).toISOString(), rec.createdAt, "createdAt is ISO 8601");
  t.equal(rec.updatedAt, rec.createdAt);
  t.same(registry.get(rec.id), rec);
  t.same(registry.findByName(rec.name), rec);
  t.equal(registry.findByName(rec.name.toLowerCase()), undefined, "names are case-sensitive");
  t.equal(registry.get("00000000-0000-4000-8000-000000000000"), undefined);
  t.same(registry.create().tags, [], "tags default to none");
});

t.test("list: newest first, quantity, state, tags, name; deleted hidden", async (t) => {
  const { registry } = openRegistry(t);
  const [first, second, third, fourth] = [registry.create(["a", "b"]), registry.create(["a"]), registry.create(["b", "c", "a"]), registry.create([])];
  const ids = (recs: StreamRecord[]) => recs.map((rec) => rec.id);

  t.same(ids(registry.list({})), [fourth.id, third.id, second.id, first.id], "newest first");
  t.same(ids(registry.list({ quantity: 2 })), [fourth.id, third.id]);
  t.same(ids(registry.list({ quantity: 0 })), [fourth.id], "quantity is at least 1");
  t.same(ids(registry.list({ tags: ["a"] })), [third.id, second.id, first.id]);
  t.same(ids(registry.list({ tags: ["a", "b"] })), [third.id, first.id], "has ALL given tags");
  t.same(ids(registry.list({ tags: ["a", "zzz"] })), []);
  t.same(ids(registry.list({ name: second.name })), [second.id]);
  t.same(ids(registry.list({ name: second.name, tags: ["b"] })), [], "name and tags combine");

  registry.markLive(third.name);
  t.same(ids(registry.list({ state: "live" })), [third.id]);
  t.same(ids(registry.list({ state: "created", tags: ["b"] })), [first.id]);

  registry.delete(second.id);
  t.same(ids(registry.list({})), [fourth.id, third.id, first.id], "deleted hidden");
  t.same(ids(registry.list({ name: second.name })), [], "deleted hidden from the name filter");
  t.same(ids(registry.list({ state: "deleted" })), [second.id], "unless asked for");
});

t.test("list: default quantity is 50", async (t) => {
  const { registry } = openRegistry(t);
  for (let i = 0; i < 55; i++) registry.create();
  t.equal(registry.list({}).length, 50);
  t.equal(registry.list({ quantity: 55 }).length, 55);
});

t.test("setTags replaces all tags and bumps updatedAt", async (t) => {
  const { registry } = openRegistry(t);
  const rec = registry.create(["old", "older"]);
  const updated = registry.setTags(rec.id, ["new"]);
  t.same(updated?.tags, ["new"]);
  t.ok(updated!.updatedAt >= rec.updatedAt);
  t.same(registry.get(rec.id)?.tags, ["new"]);
  t.equal(registry.setTags("00000000-0000-4000-8000-000000000000", ["x"]), undefined);
});

t.test("state machine", async (t) => {
  const { registry } = openRegistry(t);
  const { id, name } = registry.create();

  t.equal(registry.markEnded(name)?.state, "created", "a stream never live does not end");
  t.equal(registry.markLive(name)?.state, "live");
  t.equal(registry.get(id)?.everLive, true);
  t.equal(registry.markEnded(name)?.state, "ended");
  t.equal(registry.markLive(name)?.state, "live", "ended streams go live again");

  t.equal(registry.lock(id)?.state, "locked", "lock while live");
  t.equal(registry.markEnded(name)?.state, "locked", "the publish end keeps it locked");
  t.equal(registry.markLive(name)?.state, "locked", "a locked stream may not go live");
  t.equal(registry.unlock(id)?.state, "ended", "unlock after being live → ended");
  t.equal(registry.unlock(id)?.state, "ended", "unlock of an unlocked stream changes nothing");

  const fresh = registry.create();
  registry.lock(fresh.id);
  t.equal(registry.unlock(fresh.id)?.state, "created", "unlock of a never-live stream → created");

  t.equal(registry.delete(id)?.state, "deleted");
  t.equal(registry.markLive(name)?.state, "deleted", "a deleted stream may not go live");
  t.equal(registry.lock(id)?.state, "deleted", "deleted is terminal");
  t.equal(registry.unlock(id)?.state, "deleted");
  t.same(registry.setTags(id, ["x"])?.tags, [], "tags of a deleted stream stay");
  t.equal(registry.get(id)?.state, "deleted", "get still returns deleted streams");
  t.equal(registry.findByName(name)?.state, "deleted", "findByName too");
  t.equal(registry.markLive("Nope1-unknown"), undefined);
});

t.test("onChange fires once per change, with the new record, until unsubscribed", async (t) => {
  const { registry } = openRegistry(t);
  const seen: string[] = [];
  const unsubscribe = registry.onChange((rec) => seen.push(`${rec.state}:${rec.tags.join(",")}`));
  const { id, name } = registry.create(["x"]);
  registry.markLive(name);
  registry.markLive(name); // already live: no change, no event
  registry.setTags(id, ["y"]);
  registry.lock(id);
  registry.markEnded(name); // stays locked: no event
  registry.unlock(id);
  registry.delete(id);
  unsubscribe();
  registry.create();
  t.same(seen, ["created:x", "live:x", "live:y", "locked:y", "ended:y", "deleted:y"]);
});

t.test("streams, states and the orgHash survive close and reopen", async (t) => {
  const dir = t.testdir();
  const before = StreamRegistry.open(dir, { orgHash: "" });
  t.match(before.orgHash, /^[A-Za-z0-9]{5}$/, "an orgHash is generated when none is set");
  const created = before.create(["keep"]);
  const live = before.create();
  before.markLive(live.name);
  const locked = before.create();
  before.lock(locked.id);
  before.close();

  const after = StreamRegistry.open(dir, { orgHash: "" });
  t.teardown(() => after.close());
  t.equal(after.orgHash, before.orgHash, "the stored orgHash is reused");
  t.same(after.get(created.id), created);
  t.equal(after.findByName(live.name)?.state, "live");
  t.equal(after.get(locked.id)?.state, "locked");
  t.match(after.create().name, new RegExp(`^${before.orgHash}-`));
  t.same(
    after
      .list({})
      .map((rec) => rec.id)
      .slice(1),
    [locked.id, live.id, created.id],
    "order survives",
  );
});

t.test("a configured orgHash wins and is remembered; a malformed one is refused", async (t) => {
  const dir = t.testdir();
  StreamRegistry.open(dir, { orgHash: "First" }).close();
  const configured = StreamRegistry.open(dir, { orgHash: "Other" });
  t.equal(configured.orgHash, "Other");
  configured.close();
  const reopened = StreamRegistry.open(dir, { orgHash: "" });
  t.equal(reopened.orgHash, "Other");
  reopened.close();
  t.throws(() => StreamRegistry.open(dir, { orgHash: "bad-hash" }), RangeError);
});

t.test("stream names: format, validity and uniqueness over 10,000", async (t) => {
  const names = new Set<string>();
  for (let i = 0; i < 10_000; i++) names.add(generateStreamName("AbC12"));
  t.equal(names.size, 10_000, "no duplicates");
  for (const name of names) {
    if (!/^AbC12-[A-Za-z0-9]{11}$/.test(name) || !isValidStreamName(name)) {
      t.fail(`bad name ${name}`);
    }
  }

  // Rejection sampling keeps characters uniform: `byte % 62` would give the first 8
  // characters 25% more hits. 110,000 draws over 62 characters: ±15% is about 6 sigma.
  const counts = new Map<string, number>();
  for (const name of names) for (const c of name.slice(6)) counts.set(c, (counts.get(c) ?? 0) + 1);
  t.equal(counts.size, 62, "every character of the alphabet occurs");
  const mean = 110_000 / 62;
  const skewed = [...counts].filter(([, n]) => Math.abs(n - mean) > 0.15 * mean);
  t.same(skewed, [], "no character is favoured");

  t.match(generateOrgHash(), /^[A-Za-z0-9]{5}$/);
  t.throws(() => generateStreamName("abc"), RangeError);
  t.throws(() => generateStreamName("ab-cd"), RangeError);
});

t.test("isValidStreamName", async (t) => {
  for (const ok of ["a", "XXXXX-YYYYY", "hrzcqQ_58r", "x".repeat(128)]) t.ok(isValidStreamName(ok), ok);
  for (const bad of ["", "x".repeat(129), "a b", "a/b", "a.b", "a?x=1", "ä", "a\n"]) {
    t.notOk(isValidStreamName(bad), JSON.stringify(bad));
  }
});

t.test("api key: generated with mode 0600, then reused; a configured key wins", async (t) => {
  const dataDir = join(t.testdir(), "nested", "data");
  const first = loadOrCreateApiKey(dataDir, "");
  t.equal(first.created, true);
  t.match(first.key, /^[A-Za-z0-9_-]{43}$/, "32 random bytes, base64url");
  const file = join(dataDir, "bintu-apikey");
  t.equal(statSync(file).mode & 0o777, 0o600);

  t.same(loadOrCreateApiKey(dataDir, ""), { key: first.key, created: false });
  t.same(loadOrCreateApiKey(dataDir, "configured-key"), { key: "configured-key", created: false });

  const otherDir = t.testdir();
  t.same(loadOrCreateApiKey(otherDir, "configured-key"), { key: "configured-key", created: false });
  t.notOk(existsSync(join(otherDir, "bintu-apikey")), "no file is written for a configured key");
});

t.test("api key: a stored key is trimmed; an empty file is an error, not a new key", async (t) => {
  const dataDir = t.testdir();
  writeFileSync(join(dataDir, "bintu-apikey"), "  stored-key\n");
  t.same(loadOrCreateApiKey(dataDir, ""), { key: "stored-key", created: false });
  writeFileSync(join(dataDir, "bintu-apikey"), "\n");
  t.throws(() => loadOrCreateApiKey(dataDir, ""), /empty/);
});
