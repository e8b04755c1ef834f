// The live-session policy over plain fakes of its ports and a manual clock (issue 11 §1): which
// running session ends, when, and with which code — revocation, forceDisconnect expiry (per-session
// timers, no sweep), Guardian changes with enforceOnActive, lock / delete, failed re-checks, webhook
// refusals, and the publish end's side effects. test/ingest/* prove the same through real sockets.
import t from "tap";
import { LiveSessionPolicy, type LiveSessionPolicyOptions } from "../../src/access/live-session-policy.js";
import type { StreamWatch } from "../../src/access/ports.js";
import { SessionTable } from "../../src/access/session-table.js";
import type { EdgeSession, SessionToken } from "../../src/access/types.js";
import type { Lookup, StreamInfo } from "../../src/bintu/directory.js";
import type { ErrorCode } from "../../src/errors.js";
import type { Decision as RuleVerdict } from "../../src/guardian/snapshot.js";
import { FakeClock } from "../helpers/fake-clock.js";

const STREAM: StreamInfo = { id: "id-1", name: "s1", state: "live", tags: [] };
const DAY_MS = 86_400_000;

interface TestSession extends EdgeSession {
  ended: ErrorCode[];
}

let ids = 0;
function session(
  role: "publisher" | "player" | "relay",
  clock: FakeClock,
  over: { name?: string; app?: string; token?: SessionToken; ip?: string } = {},
): TestSession {
  const name = over.name ?? STREAM.name;
  const app = over.app ?? "live";
  const ended: ErrorCode[] = [];
  return {
    id: `s${++ids}`,
    role,
    protocol: "rtmp",
    app,
    name,
    ip: over.ip ?? "203.0.113.1",
    startedAt: clock.now(),
    bytesIn: () => 0,
    bytesOut: () => 0,
    end: (code) => void ended.push(code),
    request: { action: role === "publisher" ? "publish" : "play", protocol: "rtmp", media: "here", app, name, query: {}, ip: over.ip ?? "203.0.113.1" },
    decision: { allow: true, stream: { ...STREAM, name }, token: over.token },
    ended,
  };
}

/** A fake of each port, recording what the policy told it. */
function setup(over: Partial<LiveSessionPolicyOptions> = {}) {
  const clock = new FakeClock();
  const table = new SessionTable();
  const revokeListeners = new Set<(jti: string) => void>();
  const ruleListeners = new Set<(rules: unknown, previous?: unknown, addedOnActive?: ReadonlySet<string>) => void>();
  const streamListeners = new Set<(s: StreamInfo) => void>();
  const reports: string[] = [];
  const webhookCalls: string[] = [];
  let lookup: () => Promise<Lookup> = async () => ({ stream: STREAM, source: "bintu" });
  let webhookAnswer: "allow" | "deny" = "allow";
  const streams: StreamWatch = {
    resolve: () => lookup(),
    onChange: (l) => (streamListeners.add(l), () => streamListeners.delete(l)),
    reportLive: async (name) => void reports.push(`live ${name}`),
    reportEnded: async (name) => void reports.push(`ended ${name}`),
  };
  const policy = new LiveSessionPolicy({
    table,
    rules: {
      // A rule set is a function of the request here: the policy only passes it back to check().
      check: (req, rules) => (rules as (ip: string) => RuleVerdict)(req.ip),
      onRulesChanged: (l) => (ruleListeners.add(l), () => ruleListeners.delete(l)),
    },
    enforceRulesOnActive: true,
    revocations: { onRevoke: (l) => (revokeListeners.add(l), () => revokeListeners.delete(l)) },
    streams,
    webhook: {
      update: async (s, elapsedMs) => (webhookCalls.push(`update ${s.name} ${elapsedMs}`), webhookAnswer),
      done: (s) => void webhookCalls.push(`done ${s.name}`),
    },
    endGraceMs: 5_000,
    revalidateIntervalMs: 10_000,
    clock,
    ...over,
  });
  return {
    clock,
    table,
    policy,
    reports,
    webhookCalls,
    revoke: (jti: string) => revokeListeners.forEach((l) => l(jti)),
    rulesChanged: (rules: (ip: string) => RuleVerdict, addedOnActive?: ReadonlySet<string>) => ruleListeners.forEach((l) => l(rules, undefined, addedOnActive)),
    streamChanged: (s: StreamInfo) => streamListeners.forEach((l) => l(s)),
    setLookup: (f: () => Promise<Lookup>) => (lookup = f),
    setWebhook: (a: "allow" | "deny") => (webhookAnswer = a),
    listeners: () => revokeListeners.size + ruleListeners.size + streamListeners.size,
  };
}

/** Lets the promise chains the policy started (re-checks, reports) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

t.test("forceDisconnect: the session ends at exp, by its own timer", async (t) => {
  const w = setup();
  const exp = Math.floor(w.clock.now() / 1000) + 60;
  const forced = session("player", w.clock, { token: { jti: "a", exp, forceDisconnect: true } });
  const lenient = session("player", w.clock, { token: { jti: "b", exp, forceDisconnect: false } });
  w.policy.started(forced);
  w.policy.started(lenient);
  w.clock.advance(60_000 - 1);
  t.same(forced.ended, [], "1 ms before exp: still playing");
  w.clock.advance(1);
  t.same(forced.ended, ["EDGE_ERR_TOKEN_EXPIRED"], "at exp: ended");
  w.clock.advance(DAY_MS);
  t.same(lenient.ended, [], "without forceDisconnect an expired token only blocks new plays");
  w.policy.ended(forced);
  t.equal(w.clock.pending, 0, "no timer left behind");
  w.policy.close();
});

t.test("a token that outlives a timer's range is re-armed until exp", async (t) => {
  const w = setup();
  const exp = Math.floor(w.clock.now() / 1000) + 300 * 86_400;
  const s = session("player", w.clock, { token: { jti: "long", exp, forceDisconnect: true } });
  w.policy.started(s);
  w.clock.advance(299 * DAY_MS);
  t.same(s.ended, [], "299 days in: still playing");
  w.clock.advance(DAY_MS);
  t.same(s.ended, ["EDGE_ERR_TOKEN_EXPIRED"]);
  w.policy.close();
});

t.test("a session that leaves before exp takes its timer with it; an already expired token ends at once", async (t) => {
  const w = setup();
  const nowSec = Math.floor(w.clock.now() / 1000);
  const s = session("player", w.clock, { token: { jti: "x", exp: nowSec + 60, forceDisconnect: true } });
  w.policy.started(s);
  t.equal(w.clock.pending, 1);
  w.policy.ended(s);
  t.equal(w.clock.pending, 0);
  w.clock.advance(120_000);
  t.same(s.ended, []);
  const late = session("player", w.clock, { token: { jti: "y", exp: nowSec, forceDisconnect: true } });
  w.policy.started(late);
  t.same(late.ended, ["EDGE_ERR_TOKEN_EXPIRED"], "exp already passed (leeway at verification): ended");
  w.policy.close();
});

t.test("a revocation ends exactly the sessions allowed with that token", async (t) => {
  const w = setup();
  const token = (jti: string): SessionToken => ({ jti, exp: Math.floor(w.clock.now() / 1000) + 600, forceDisconnect: false });
  const a1 = session("player", w.clock, { token: token("A") });
  const a2 = session("player", w.clock, { token: token("A") });
  const b = session("player", w.clock, { token: token("B") });
  const none = session("player", w.clock);
  for (const s of [a1, a2, b, none]) w.policy.started(s);
  w.policy.ended(a2);
  w.revoke("A");
  t.same(a1.ended, ["EDGE_ERR_TOKEN_REVOKED"]);
  t.same(a2.ended, [], "already gone: not ended again");
  t.same(b.ended, []);
  t.same(none.ended, []);
  w.revoke("nobody");
  t.same(b.ended, []);
  w.policy.close();
});

t.test("Guardian changes end the sessions the new rules refuse, only with enforceOnActive", async (t) => {
  const blockOne = (ip: string): RuleVerdict => (ip === "198.51.100.9" ? { allow: false, ruleId: "r", kind: "ip" } : { allow: true, reportedRuleIds: [] });
  const w = setup();
  const bad = session("player", w.clock, { ip: "198.51.100.9" });
  const good = session("publisher", w.clock);
  w.policy.started(bad);
  w.policy.started(good);
  w.rulesChanged(blockOne);
  t.same(bad.ended, ["EDGE_ERR_GUARDIAN_IP"]);
  t.same(good.ended, []);
  w.policy.close();

  const off = setup({ enforceRulesOnActive: false });
  const kept = session("player", off.clock, { ip: "198.51.100.9" });
  off.policy.started(kept);
  off.rulesChanged(blockOne);
  t.same(kept.ended, [], "default: rules refuse new sessions only");
  off.policy.close();
});

t.test("without the edge-wide flag, a rule added with its own enforceOnActive ends the sessions it refuses", async (t) => {
  const w = setup({ enforceRulesOnActive: false });
  const byOld = session("player", w.clock, { ip: "198.51.100.1" });
  const byNew = session("player", w.clock, { ip: "198.51.100.2" });
  const fine = session("player", w.clock, { ip: "198.51.100.3" });
  for (const s of [byOld, byNew, fine]) w.policy.started(s);
  const rules = (ip: string): RuleVerdict =>
    ip === "198.51.100.1"
      ? { allow: false, ruleId: "old", kind: "ip" }
      : ip === "198.51.100.2"
        ? { allow: false, ruleId: "new", kind: "country" }
        : { allow: true, reportedRuleIds: [] };
  w.rulesChanged(rules, new Set());
  t.same(byNew.ended, [], "a change adding no flagged rule ends nothing");
  w.rulesChanged(rules, new Set(["new"]));
  t.same(byNew.ended, ["EDGE_ERR_GUARDIAN_COUNTRY"], "refused by the flagged rule: ended");
  t.same(byOld.ended, [], "refused by an older rule without the flag: left running, as before");
  t.same(fine.ended, []);
  w.policy.close();
});

t.test("a relay (another edge pulling, issue 13): no viewer rule re-checks it; it ends with the players after its publisher left", async (t) => {
  const w = setup();
  const pub = session("publisher", w.clock);
  const relay = session("relay", w.clock, { ip: "198.51.100.9" });
  w.policy.started(pub);
  w.policy.started(relay);
  w.rulesChanged(() => ({ allow: false, ruleId: "r", kind: "ip" }));
  t.same(relay.ended, [], "a rule refusing the pulling edge's address leaves the relay running");
  w.policy.ended(pub);
  w.clock.advance(5_000);
  t.same(relay.ended, ["EDGE_ERR_PUBLISHER_GONE"], "after playback.endGraceMs: its edge looks for the publisher again");
  w.policy.close();
});

t.test("a locked or deleted stream loses its publisher at once, its players after the grace", async (t) => {
  const w = setup();
  const pub = session("publisher", w.clock);
  const player = session("player", w.clock);
  const other = session("publisher", w.clock, { name: "s2" });
  // A viewer of a stream pulled from another edge (issue 13) on an edge without the publisher.
  const pulled = { ...session("player", w.clock, { name: "s3" }), decision: { allow: true as const, stream: { ...STREAM, name: "s3" }, pull: true as const } };
  for (const s of [pub, player, other, pulled]) w.policy.started(s);
  w.streamChanged({ ...STREAM, state: "live" });
  t.same(pub.ended, [], "a change that is no refusal ends nothing");
  w.streamChanged({ ...STREAM, state: "locked" });
  t.same(pub.ended, ["EDGE_ERR_STREAM_LOCKED"]);
  t.same(player.ended, []);
  t.same(other.ended, [], "another stream is untouched");
  w.policy.ended(pub);
  w.clock.advance(5_000);
  t.same(player.ended, ["EDGE_ERR_PUBLISHER_GONE"], "players follow after playback.endGraceMs");
  w.streamChanged({ ...STREAM, name: "s2", state: "deleted" });
  t.same(other.ended, ["EDGE_ERR_STREAM_DELETED"]);
  w.streamChanged({ ...STREAM, name: "s3", state: "locked" });
  t.same(pulled.ended, ["EDGE_ERR_STREAM_LOCKED"], "a pulled stream's viewer at once: its publisher is on another edge");
  w.policy.close();
});

t.test("a publish end: stream reported ended, webhook publish_done, players closed unless the publisher returns", async (t) => {
  const w = setup();
  const pub = session("publisher", w.clock);
  const player = session("player", w.clock);
  const otherApp = session("player", w.clock, { app: "rec" });
  for (const s of [pub, player, otherApp]) w.policy.started(s);
  await settle();
  t.same(w.reports, ["live s1"]);
  w.policy.ended(pub);
  await settle();
  t.same(w.reports, ["live s1", "ended s1"]);
  t.same(w.webhookCalls, ["done s1"]);
  w.clock.advance(4_000);
  const back = session("publisher", w.clock);
  w.policy.started(back);
  w.clock.advance(1_000);
  t.same(player.ended, [], "the encoder came back within the grace: players stay");
  w.policy.ended(back);
  w.clock.advance(5_000);
  t.same(player.ended, ["EDGE_ERR_PUBLISHER_GONE"]);
  t.same(otherApp.ended, [], "a player of the same name in another app is not this stream's");
  w.policy.ended(back);
  t.same(w.webhookCalls, ["done s1", "done s1"], "ended twice counts once");
  w.policy.close();
});

t.test("re-checks: a stream locked in bintu, a refusing webhook or an unreachable bintu end the publisher", async (t) => {
  const cases: Array<[string, (w: ReturnType<typeof setup>) => void, ErrorCode]> = [
    ["locked in bintu", (w) => w.setLookup(async () => ({ stream: { ...STREAM, state: "locked" }, source: "bintu" })), "EDGE_ERR_STREAM_LOCKED"],
    ["gone from bintu", (w) => w.setLookup(async () => ({ stream: null, source: "bintu" })), "EDGE_ERR_STREAM_UNKNOWN"],
    ["webhook refuses update_publish", (w) => w.setWebhook("deny"), "EDGE_ERR_WEBHOOK_DENIED"],
    ["bintu unreachable, nothing stale", (w) => w.setLookup(async () => Promise.reject(new Error("down"))), "EDGE_ERR_BINTU_UNAVAILABLE"],
  ];
  for (const [name, arrange, code] of cases) {
    const w = setup();
    const pub = session("publisher", w.clock);
    w.policy.started(pub);
    w.clock.advance(12_000); // interval 10 s ± 20 %
    await settle();
    t.same(pub.ended, [], `${name}: the first re-check found nothing`);
    arrange(w);
    w.clock.advance(12_000);
    await settle();
    await settle();
    t.same(pub.ended, [code], name);
    w.policy.close();
  }
});

t.test("the webhook's update_publish carries the publish's elapsed time from the policy's clock", async (t) => {
  const w = setup();
  const pub = session("publisher", w.clock);
  w.policy.started(pub);
  w.clock.advance(12_000);
  await settle();
  t.equal(w.webhookCalls.length, 1);
  const elapsed = Number(w.webhookCalls[0].split(" ")[2]);
  t.ok(elapsed >= 8_000 && elapsed <= 12_000, `elapsed ${elapsed} ms is the jittered interval`);
  w.policy.close();
});

t.test("kick by id, and close() leaves no timer or listener", async (t) => {
  const w = setup();
  const nowSec = Math.floor(w.clock.now() / 1000);
  const pub = session("publisher", w.clock, { token: { jti: "t", exp: nowSec + 60, forceDisconnect: true } });
  w.policy.started(pub);
  t.equal(w.policy.end(pub.id), true);
  t.same(pub.ended, ["EDGE_ERR_KICKED"]);
  t.equal(w.policy.end("no-such-session"), false);
  w.policy.ended(pub);
  t.ok(w.clock.pending > 0, "the end grace is pending");
  w.policy.close();
  t.equal(w.clock.pending, 0);
  t.equal(w.listeners(), 0);
});
