// Revocation store (src/auth/revocations.ts): persists across close/reopen, tells listeners once,
// forgets entries 24 h after the token's expiry.
import { statSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { KEEP_AFTER_EXPIRY_SEC, REVOCATIONS_FILE, RevocationStore } from "../../src/auth/revocations.js";
import { NOW } from "./fixtures.js";

t.test("revocations survive close and reopen", async (t) => {
  const dir = join(t.testdir(), "data");
  const store = RevocationStore.open(dir, NOW);
  t.notOk(store.has("a"));
  t.equal(store.revoke("a", NOW + 600), true);
  t.equal(store.revoke("b", NOW + 60), true);
  t.ok(store.has("a"));
  store.close();
  t.ok(statSync(join(dir, REVOCATIONS_FILE)).isFile());
  const reopened = RevocationStore.open(dir, NOW + 3600);
  t.teardown(() => reopened.close());
  t.ok(reopened.has("a"), "still revoked after a restart");
  t.ok(reopened.has("b"));
  t.notOk(reopened.has("c"));
});

t.test("listeners hear each new revocation once, after it is stored", async (t) => {
  const dir = t.testdir();
  const store = RevocationStore.open(dir, NOW);
  t.teardown(() => store.close());
  const heard: string[] = [];
  const off = store.onRevoke((jti) => {
    t.ok(store.has(jti), "already visible to has() when told");
    heard.push(jti);
  });
  store.revoke("a", NOW + 60);
  t.equal(store.revoke("a", NOW + 60), false, "revoking again changes nothing");
  store.revoke("b", NOW + 60);
  off();
  store.revoke("c", NOW + 60);
  t.same(heard, ["a", "b"]);
});

t.test("entries go 24 h after the token's expiry, on open and on prune", async (t) => {
  const dir = t.testdir();
  const store = RevocationStore.open(dir, NOW);
  store.revoke("old", NOW);
  store.revoke("new", NOW + 3600);
  store.close();
  const sameDay = RevocationStore.open(dir, NOW + KEEP_AFTER_EXPIRY_SEC);
  t.ok(sameDay.has("old"), "kept until exp + 24 h (an expired token may still be revoked then)");
  sameDay.close();
  const later = RevocationStore.open(dir, NOW + KEEP_AFTER_EXPIRY_SEC + 1);
  t.teardown(() => later.close());
  t.notOk(later.has("old"), "pruned on open");
  t.ok(later.has("new"));
  t.equal(later.prune(NOW + 3600 + KEEP_AFTER_EXPIRY_SEC + 1), 1);
  t.notOk(later.has("new"), "pruned by prune()");
  t.equal(later.prune(NOW + 10 * KEEP_AFTER_EXPIRY_SEC), 0);
});
