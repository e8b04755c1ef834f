// Sessions on foreign media servers in the edge's session table (issue 14 §6): listed, live
// elsewhere (busy for a publish here, not playable here), counted in no metric of this edge's own
// media, and ended by the policy through the server's kick, after which the server's re-check is
// refused with the code the edge ended it with.
import t from "tap";
import type { Allowed, AccessRequest } from "../../src/access/access.js";
import type { EdgeSession } from "../../src/access/types.js";
import { SessionTable } from "../../src/access/session-table.js";
import type { StreamInfo } from "../../src/bintu/directory.js";
import { ForeignSessions } from "../../src/http/hook-sessions.js";
import type { HookServer, HookSession } from "../../src/hooks/types.js";

const stream = { id: "1", name: "ABCDE-fghij", state: "live", tags: [] } as unknown as StreamInfo;
const allowed: Allowed = { allow: true, stream };
const request = (action: "publish" | "play"): AccessRequest => ({
  action,
  protocol: "hook",
  media: "elsewhere",
  app: "live",
  name: stream.name,
  query: {},
  ip: "198.51.100.7",
});

t.test("foreign sessions: table, locator, counts, ends", async (t) => {
  const table = new SessionTable();
  const ended: EdgeSession[] = [];
  const policy = { started: (s: EdgeSession) => table.add(s), ended: (s: EdgeSession) => (table.remove(s), ended.push(s)) };
  const kicks: [HookServer, string][] = [];
  const foreign = new ForeignSessions(
    policy,
    async (server, hs) => void kicks.push([server, hs.id]),
    () => 1_000,
  );
  const pub: HookSession = { id: "nginx-rtmp-7-publisher", role: "publisher", protocol: "rtmp", clientId: "7" };
  const player: HookSession = { id: "nginx-rtmp-8-player", role: "player", protocol: "rtmp", clientId: "8" };
  foreign.start("nginx-rtmp", pub, request("publish"), allowed);
  foreign.start("nginx-rtmp", player, request("play"), allowed);

  t.equal(table.size, 2, "both in the table");
  t.same(table.locate("live", stream.name), { at: "edge", edge: "nginx-rtmp" }, "live elsewhere: busy for a publish here, not playable here");
  t.same(table.locate("rec", stream.name), { at: "nowhere" });
  t.equal(table.publishers("rtmp"), 0, "not this edge's publisher");
  t.equal(table.players("rtmp"), 0, "nor its player");
  t.match(table.get(pub.id), { foreign: { server: "nginx-rtmp", protocol: "rtmp" }, startedAt: 1_000 });

  table.get(pub.id)!.end("EDGE_ERR_STREAM_LOCKED");
  t.same(kicks, [["nginx-rtmp", pub.id]], "ending one asks its server to drop it");
  t.equal(foreign.endedWith(pub.id), "EDGE_ERR_STREAM_LOCKED", "the server's next re-check is refused with why");
  t.same(
    ended.map((s) => s.id),
    [pub.id],
    "the policy heard of the end at once",
  );
  t.equal(foreign.get(pub.id), undefined);
  foreign.done([pub.id]);
  t.equal(foreign.endedWith(pub.id), undefined, "a done call forgets it");
  t.same(kicks.length, 1, "and nothing is kicked twice");

  foreign.start("nginx-rtmp", player, request("play"), allowed);
  t.same(
    ended.map((s) => s.id),
    [pub.id, player.id],
    "a new session with the same id ends the old one first",
  );
  foreign.done([player.id, "nginx-rtmp-404-player"]);
  t.equal(table.size, 0, "done calls empty the table; unknown ids are ignored");
});

t.test("a foreign publisher of a key live here does not take the local publisher's place", async (t) => {
  const table = new SessionTable();
  const local = {
    id: "local",
    role: "publisher",
    protocol: "rtmp",
    app: "live",
    name: stream.name,
    ip: "",
    startedAt: 0,
    bytesIn: () => 0,
    bytesOut: () => 0,
    end: () => {},
    request: request("publish"),
    decision: allowed,
  } as EdgeSession;
  table.add(local);
  const foreign = new ForeignSessions({ started: (s) => table.add(s), ended: (s) => void table.remove(s) }, async () => {});
  foreign.start("srs", { id: "srs-a-b-publisher", role: "publisher", protocol: "rtmp", clientId: "b" }, request("publish"), allowed);
  t.same(table.locate("live", stream.name), { at: "here" }, "still live here");
  foreign.done(["srs-a-b-publisher"]);
  t.equal(table.publisherOf("live", stream.name), local, "and its index entry survives the foreign one's end");
});
