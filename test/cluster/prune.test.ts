// Pruning the fleet's snapshot (src/cluster/prune.ts) against a real redis-server, with two
// replicas (edges "a" and "b") in this process: expired rules and revocations leave `P state` and
// both replicas through the log, once; what has not expired stays; only the lowest edge prunes; two
// pruners racing on one record delete it once; a record changed since a pruner saw it is kept.
import t from "tap";
import { KEEP_AFTER_EXPIRY_SEC } from "../../src/auth/revocations.js";
import { FleetPruner, isExpired } from "../../src/cluster/prune.js";
import { RedisLink } from "../../src/cluster/redis.js";
import { Replica } from "../../src/cluster/replica.js";
import { createLogger } from "../../src/log.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

const log = createLogger("silent");
const redis = await startRedis(t);
const PREFIX = "prune:";

function edge(name: string) {
  const link = new RedisLink({ url: redis.url, passwordFile: "", keyPrefix: PREFIX, commandTimeoutMs: 1_000, name, log });
  const replica = new Replica({ link, log, commandTimeoutMs: 1_000, expired: isExpired });
  replica.start();
  t.teardown(async () => {
    await link.close();
    await replica.close();
  });
  return replica;
}
const [a, b] = [edge("a"), edge("b")];
await waitFor("both replicas joined", () => a.status().connected && b.status().connected, 10_000);
const pruner = (replica: Replica, edgeId: string, live: string[]) => new FleetPruner({ replica, edgeId, liveIds: () => new Set(live), log });
const inRedis = async (key: string) => (await redis.command("HEXISTS", `${PREFIX}state`, key)) === ":1\r\n";
const now = Date.now();
const nowSec = Math.floor(now / 1000);

t.test("expired rules and revocations go from Redis and every replica, once; the rest stays", async (t) => {
  await a.post("rule:old", { id: "old", expiresAt: now - 1_000 });
  await a.post("rule:live", { id: "live", expiresAt: now + 3_600_000 });
  await a.post("rule:forever", { id: "forever" });
  // A revocation stays until 24 h after its token's exp, as the local RevocationStore keeps it.
  await b.post("revoke:gone", { exp: nowSec - KEEP_AFTER_EXPIRY_SEC - 60 });
  await b.post("revoke:kept", { exp: nowSec - 3_600 });
  await b.post("stream:s1", { locked: true });
  await waitFor("b has a's records", () => b.get("rule:forever") !== undefined && a.get("stream:s1") !== undefined, 1_000);
  const before = a.status().applied;

  t.equal(await pruner(b, "b", ["a", "b"]).prune(), 0, "b does not prune while a (a lower id) announces");
  t.equal(await pruner(a, "a", ["a", "b"]).prune(), 2, "a deletes the two expired records");
  await waitFor("b applied both deletes", () => b.status().applied === before + 2, 1_000);
  for (const replica of [a, b]) {
    t.equal(replica.get("rule:old"), undefined, "the expired rule is gone from the replica");
    t.equal(replica.get("revoke:gone"), undefined, "…and the revocation past exp + 24 h");
    t.ok(replica.get("rule:live") && replica.get("rule:forever") && replica.get("revoke:kept") && replica.get("stream:s1"), "…the others stay");
  }
  t.notOk(await inRedis("rule:old"), "Redis's snapshot lost the expired rule");
  t.notOk(await inRedis("revoke:gone"), "…and the expired revocation");
  t.ok(await inRedis("revoke:kept"), "…and kept the revocation within its 24 h");
  t.equal(await pruner(a, "a", ["a", "b"]).prune(), 0, "a second round finds nothing: idempotent");
  t.equal(a.status().applied, before + 2, "…and writes nothing to the log");
});

t.test("two edges that both think they lead delete a record once", async (t) => {
  await a.post("rule:race", { id: "race", expiresAt: now - 1 });
  await waitFor("b has it", () => b.get("rule:race") !== undefined, 1_000);
  const before = a.status().applied;
  const counts = await Promise.all([pruner(a, "a", []).prune(), pruner(b, "b", []).prune()]);
  t.same(
    counts.reduce((x, y) => x + y),
    1,
    `one delete between them (${counts.join(" + ")})`,
  );
  await waitFor("both applied it", () => a.status().applied === before + 1 && b.status().applied === before + 1, 1_000);
  t.equal(a.status().applied, before + 1, "one log entry");
  t.notOk(await inRedis("rule:race"));
});

t.test("a record changed after a pruner saw it expired is kept (compare on its version)", async (t) => {
  await a.post("rule:renewed", { id: "renewed", expiresAt: now - 1 });
  const seen = a.status().applied; // the version a saw
  await b.post("rule:renewed", { id: "renewed", expiresAt: now + 3_600_000 });
  const epoch = a.status().epoch!;
  t.equal(await a.log.prune(epoch, "rule:renewed", seen, Date.now(), Date.now() + 60_000), 0, "the delete of the old version writes nothing");
  t.ok(await inRedis("rule:renewed"), "the renewed rule stays in Redis");
  await waitFor("a applied the renewal", () => (a.get("rule:renewed") as { expiresAt: number }).expiresAt > now, 1_000);
  t.equal(await pruner(a, "a", []).prune(), 0, "a's next round sees the renewal and leaves it");
});
