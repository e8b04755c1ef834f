// JwksFollower against real HTTP peers: a good JWKS adds the peer's keys; an oversized one is cut
// off at the byte bound (never buffered whole) and the last good keys stay.
import t from "tap";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { JwksFollower } from "../../src/auth/jwks-follower.js";
import { loadKeySet } from "../../src/auth/keys.js";
import { createLogger } from "../../src/log.js";

const LIMIT = 64 * 1024 * 1024;

t.test("a good JWKS joins; an oversized one is refused and the last good keys stay", async (t) => {
  const peer = loadKeySet(t.testdir({ peer: {} }) + "/peer", []);
  let mode: "good" | "huge" = "good";
  let sentBytes = 0;
  const server = createServer((_req, res) => {
    if (mode === "good") return void res.end(JSON.stringify(peer.jwks()));
    // Chunked, no content-length: the bound must hold while reading, not only from the header.
    res.writeHead(200, { "content-type": "application/json" });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const push = () => {
      while (sentBytes < LIMIT && !res.destroyed) {
        sentBytes += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", push);
      }
      res.end();
    };
    res.on("error", () => {});
    push();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  const warnings: string[] = [];
  const local = loadKeySet(t.testdir({ local: {} }) + "/local", []);
  const follower = new JwksFollower(
    local,
    [url],
    60_000,
    createLogger("warn", (line) => void warnings.push(line)),
  );
  t.teardown(() => follower.close());
  await follower.start();
  const peerKid = [...peer.verification.keys()][0];
  t.ok(follower.keys.verification.has(peerKid), "the peer's key joined");

  mode = "huge";
  await (follower as unknown as { refresh(): Promise<void> }).refresh();
  t.match(warnings.join(""), /jwks fetch failed; keeping the last good keys .*response larger than 262144 bytes/);
  t.ok(follower.keys.verification.has(peerKid), "last good keys kept");
  t.ok(sentBytes < LIMIT, `the reader stopped early (server wrote ${Math.round(sentBytes / 1024)} KiB of ${LIMIT / 1024})`);
});
