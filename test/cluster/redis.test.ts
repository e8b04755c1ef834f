// The fleet's Redis connections (src/cluster/redis.ts) against a real redis-server that the test
// kills and freezes: up() follows Redis within a ping, no command waits past its deadline, and
// the link comes back by itself.
import t from "tap";
import { RedisLink } from "../../src/cluster/redis.js";
import { createLogger } from "../../src/log.js";
import { startRedis } from "../helpers/redis.js";
import { waitFor } from "../helpers/wait.js";

t.test("up and down follow a killed, frozen and restarted Redis; no command outlives its deadline", async (t) => {
  const redis = await startRedis(t);
  const link = new RedisLink({
    url: redis.url,
    passwordFile: "",
    keyPrefix: "test:",
    commandTimeoutMs: 150,
    name: "test",
    log: createLogger("silent"),
    pingIntervalMs: 200,
  });
  t.teardown(() => link.close());
  const changes: boolean[] = [];
  link.onUp((up) => changes.push(up));
  await waitFor("redis up", () => link.up());
  await link.cmd.set(link.key("a"), "1");
  t.equal(await redis.command("GET", "test:a"), "$1\r\n1\r\n", "keys carry the fleet's prefix");

  redis.freeze();
  const started = Date.now();
  await t.rejects(link.cmd.get(link.key("a")), "a frozen Redis: the command fails");
  t.ok(Date.now() - started < 1_000, `…at its deadline, not later (${Date.now() - started} ms)`);
  await waitFor("down while frozen", () => !link.up(), 2_000);
  redis.thaw();
  await waitFor("up after thaw", () => link.up(), 2_000);

  await redis.kill();
  await waitFor("down after kill", () => !link.up(), 2_000);
  const refused = Date.now();
  await t.rejects(link.cmd.get(link.key("a")), "no offline queue: a command while disconnected fails");
  t.ok(Date.now() - refused < 500, "…at once");
  await redis.restart();
  const back = await waitFor("up after restart", () => link.up(), 3_000);
  t.comment(`back ${back} ms after the restart`);
  t.equal(await link.cmd.get(link.key("a")), null, "the restarted Redis is empty");
  t.same(changes.slice(0, 4), [true, false, true, false], "every change was told");
});
