// The access decision for new sessions, table-driven over plain fakes of its ports (issue 11 §8):
// every outcome × action × where the media is carried × protocol, with the order of checks proven by what the
// fakes were asked (a blocked scanner costs no lookup, a play never calls the webhook, …). The
// end-to-end tests (test/ingest, test/http) prove the same decisions through real sockets.
import t from "tap";
import { AccessControl, decide, streamVerdict, type AccessRequest, type Decision } from "../../src/access/access.js";
import type { StreamLocation } from "../../src/access/types.js";
import type { SplayClaims, SplayVerification } from "../../src/auth/splay.js";
import type { StreamInfo } from "../../src/bintu/directory.js";
import { EdgeError, type ErrorCode } from "../../src/errors.js";
import type { GuardianRequest } from "../../src/guardian/guardian.js";
import type { Decision as RuleVerdict } from "../../src/guardian/snapshot.js";

const STREAM: StreamInfo = { id: "6b1c0c1e-0000-4000-8000-000000000001", name: "AbCd3-x7Qk2", state: "created", tags: ["sports"] };
const ORG = "org-1";
const NOW_SEC = 1_800_000_000;

const claims = (over: Partial<SplayClaims> = {}): SplayClaims =>
  ({ streams: [STREAM.name], exp: NOW_SEC + 600, aud: "splay", iss: "edge", sub: ORG, iat: NOW_SEC - 1, jti: "jti-1", ...over }) as SplayClaims;

/** One world the decision runs in; each row of the table changes one thing. */
interface World {
  stream: StreamInfo | null | "unavailable" | "broken";
  /** "natural": live here for a play, live nowhere for a publish — so a row tests what it names. */
  location: StreamLocation | "natural";
  blocked: boolean;
  rules: RuleVerdict;
  tokensRequired: boolean;
  token: string | undefined;
  verify: SplayVerification;
  webhook: "allow" | "deny" | null;
  app: string;
  /** A tag-scoped Guardian rule is in force: the rules need the stream's tags, so the lookup first. */
  tagRules: boolean;
}

const LIVE_HERE: StreamLocation = { at: "here" };
const ALLOW_RULES: RuleVerdict = { allow: true, reportedRuleIds: [] };
const base: World = {
  stream: STREAM,
  location: "natural",
  blocked: false,
  rules: ALLOW_RULES,
  tokensRequired: true,
  token: "tok",
  verify: { ok: true, claims: claims() },
  webhook: "allow",
  app: "live",
  tagRules: false,
};

/** What the decision asked of its ports, in order. */
type Call = "blocked" | "lookup" | "locate" | "rules" | "verify" | "webhook" | "failure";

function run(world: World, action: "publish" | "play", media: "here" | "elsewhere", protocol?: AccessRequest["protocol"]) {
  const calls: Call[] = [];
  /** Each read of the decision's clock moves it 7 ms: a decision with no other reading took 7 ms. */
  let clockMs = 0;
  const reported: Array<{ req: AccessRequest; decision: Decision; ms: number }> = [];
  const seen: GuardianRequest[] = [];
  const access = new AccessControl({
    streams: {
      lookup: async () => {
        calls.push("lookup");
        if (world.stream === "unavailable") throw new EdgeError("EDGE_ERR_BINTU_UNAVAILABLE");
        if (world.stream === "broken") throw new Error("socket hang up");
        return world.stream;
      },
    },
    locator: {
      locate: () => {
        calls.push("locate");
        if (world.location !== "natural") return world.location;
        return action === "play" ? LIVE_HERE : { at: "nowhere" };
      },
    },
    apps: ["live", "rec"],
    limiter: {
      blocked: () => {
        calls.push("blocked");
        return world.blocked;
      },
      recordFailure: () => void calls.push("failure"),
    },
    webhook:
      world.webhook === null
        ? null
        : {
            publish: async () => {
              calls.push("webhook");
              return world.webhook as "allow" | "deny";
            },
          },
    rules: {
      decide: (req: GuardianRequest) => {
        calls.push("rules");
        seen.push(req);
        return world.rules;
      },
      needsTags: () => world.tagRules,
    },
    tokens: world.tokensRequired
      ? {
          verify: () => {
            calls.push("verify");
            return world.verify;
          },
        }
      : null,
    org: ORG,
    now: () => (clockMs += 7),
    nowSec: () => NOW_SEC,
    onDecided: (decidedReq, decision, ms) => reported.push({ req: decidedReq, decision, ms }),
  });
  const req: AccessRequest = {
    action,
    protocol: protocol ?? (media === "here" ? "rtmp" : "http"),
    media,
    app: world.app,
    name: STREAM.name,
    query: world.token === undefined ? {} : { jwtoken: world.token },
    ip: "203.0.113.7",
  };
  return access.check(req).then((decision) => ({ decision, calls, reported, req, seen }));
}

type Column = "publish/here" | "play/here" | "publish/elsewhere" | "play/elsewhere";
type Expected = ErrorCode | "allow";
const COLUMNS: Column[] = ["publish/here", "play/here", "publish/elsewhere", "play/elsewhere"];

const rows: Array<[string, Partial<World>, Record<Column, Expected>]> = [
  ["all allowed", {}, { "publish/here": "allow", "play/here": "allow", "publish/elsewhere": "allow", "play/elsewhere": "allow" }],
  [
    "live here",
    { location: LIVE_HERE },
    { "publish/here": "EDGE_ERR_STREAM_BUSY", "play/here": "allow", "publish/elsewhere": "allow", "play/elsewhere": "allow" },
  ],
  [
    "live nowhere",
    { location: { at: "nowhere" } },
    { "publish/here": "allow", "play/here": "EDGE_ERR_STREAM_NOT_LIVE", "publish/elsewhere": "allow", "play/elsewhere": "allow" },
  ],
  [
    "live on another edge",
    { location: { at: "edge", edge: "fra-1" } },
    { "publish/here": "EDGE_ERR_STREAM_BUSY", "play/here": "EDGE_ERR_STREAM_NOT_LIVE", "publish/elsewhere": "allow", "play/elsewhere": "allow" },
  ],
  [
    "unknown app",
    { app: "vod" },
    { "publish/here": "EDGE_ERR_BAD_APP", "play/here": "EDGE_ERR_BAD_APP", "publish/elsewhere": "EDGE_ERR_BAD_APP", "play/elsewhere": "EDGE_ERR_BAD_APP" },
  ],
  [
    "publisher's address blocked",
    { blocked: true },
    { "publish/here": "EDGE_ERR_PUBLISH_RATE_LIMITED", "play/here": "allow", "publish/elsewhere": "EDGE_ERR_PUBLISH_RATE_LIMITED", "play/elsewhere": "allow" },
  ],
  [
    "unknown stream",
    { stream: null },
    {
      "publish/here": "EDGE_ERR_STREAM_UNKNOWN",
      "play/here": "EDGE_ERR_STREAM_UNKNOWN",
      "publish/elsewhere": "EDGE_ERR_STREAM_UNKNOWN",
      "play/elsewhere": "EDGE_ERR_STREAM_UNKNOWN",
    },
  ],
  [
    "locked stream",
    { stream: { ...STREAM, state: "locked" } },
    {
      "publish/here": "EDGE_ERR_STREAM_LOCKED",
      "play/here": "EDGE_ERR_STREAM_LOCKED",
      "publish/elsewhere": "EDGE_ERR_STREAM_LOCKED",
      "play/elsewhere": "EDGE_ERR_STREAM_LOCKED",
    },
  ],
  [
    "deleted stream",
    { stream: { ...STREAM, state: "deleted" } },
    {
      "publish/here": "EDGE_ERR_STREAM_DELETED",
      "play/here": "EDGE_ERR_STREAM_DELETED",
      "publish/elsewhere": "EDGE_ERR_STREAM_DELETED",
      "play/elsewhere": "EDGE_ERR_STREAM_DELETED",
    },
  ],
  [
    "bintu unavailable",
    { stream: "unavailable" },
    {
      "publish/here": "EDGE_ERR_BINTU_UNAVAILABLE",
      "play/here": "EDGE_ERR_BINTU_UNAVAILABLE",
      "publish/elsewhere": "EDGE_ERR_BINTU_UNAVAILABLE",
      "play/elsewhere": "EDGE_ERR_BINTU_UNAVAILABLE",
    },
  ],
  [
    "directory fails unexpectedly: closed",
    { stream: "broken" },
    {
      "publish/here": "EDGE_ERR_BINTU_UNAVAILABLE",
      "play/here": "EDGE_ERR_BINTU_UNAVAILABLE",
      "publish/elsewhere": "EDGE_ERR_BINTU_UNAVAILABLE",
      "play/elsewhere": "EDGE_ERR_BINTU_UNAVAILABLE",
    },
  ],
  [
    "Guardian refuses the address",
    { rules: { allow: false, ruleId: "r1", kind: "ip" } },
    {
      "publish/here": "EDGE_ERR_GUARDIAN_IP",
      "play/here": "EDGE_ERR_GUARDIAN_IP",
      "publish/elsewhere": "EDGE_ERR_GUARDIAN_IP",
      "play/elsewhere": "EDGE_ERR_GUARDIAN_IP",
    },
  ],
  [
    "Guardian refuses the referrer",
    { rules: { allow: false, ruleId: "r2", kind: "referer" } },
    {
      "publish/here": "EDGE_ERR_GUARDIAN_REFERER",
      "play/here": "EDGE_ERR_GUARDIAN_REFERER",
      "publish/elsewhere": "EDGE_ERR_GUARDIAN_REFERER",
      "play/elsewhere": "EDGE_ERR_GUARDIAN_REFERER",
    },
  ],
  [
    "Guardian refuses the country",
    { rules: { allow: false, ruleId: "r3", kind: "country" } },
    {
      "publish/here": "EDGE_ERR_GUARDIAN_COUNTRY",
      "play/here": "EDGE_ERR_GUARDIAN_COUNTRY",
      "publish/elsewhere": "EDGE_ERR_GUARDIAN_COUNTRY",
      "play/elsewhere": "EDGE_ERR_GUARDIAN_COUNTRY",
    },
  ],
  ...(["unknown", "locked", "deleted", "live here", "busy elsewhere", "unavailable"] as const).flatMap((state) =>
    ([false, true] as const).map((tagRules): [string, Partial<World>, Record<Column, Expected>] => [
      `Guardian refuses the address, ${state} key, ${tagRules ? "with" : "without"} tag rules: the key's state is not told`,
      {
        tagRules,
        rules: { allow: false, ruleId: "r1", kind: "ip" },
        ...(state === "unknown" ? { stream: null } : {}),
        ...(state === "locked" || state === "deleted" ? { stream: { ...STREAM, state } } : {}),
        ...(state === "live here" ? { location: LIVE_HERE } : {}),
        ...(state === "busy elsewhere" ? { location: { at: "edge", edge: "fra-1" } } : {}),
        // bintu down: with tag rules the refusal waits for the lookup, which fails closed.
        ...(state === "unavailable" ? { stream: "unavailable" } : {}),
      },
      Object.fromEntries(COLUMNS.map((c) => [c, state === "unavailable" && tagRules ? "EDGE_ERR_BINTU_UNAVAILABLE" : "EDGE_ERR_GUARDIAN_IP"])) as Record<
        Column,
        Expected
      >,
    ]),
  ),
  [
    "no token",
    { token: undefined },
    { "publish/here": "allow", "play/here": "EDGE_ERR_TOKEN_MISSING", "publish/elsewhere": "allow", "play/elsewhere": "EDGE_ERR_TOKEN_MISSING" },
  ],
  [
    "no token, none required",
    { token: undefined, tokensRequired: false },
    { "publish/here": "allow", "play/here": "allow", "publish/elsewhere": "allow", "play/elsewhere": "allow" },
  ],
  [
    "token invalid",
    { verify: { ok: false, code: "EDGE_ERR_TOKEN_INVALID" } },
    { "publish/here": "allow", "play/here": "EDGE_ERR_TOKEN_INVALID", "publish/elsewhere": "allow", "play/elsewhere": "EDGE_ERR_TOKEN_INVALID" },
  ],
  [
    "token expired",
    { verify: { ok: false, code: "EDGE_ERR_TOKEN_EXPIRED" } },
    { "publish/here": "allow", "play/here": "EDGE_ERR_TOKEN_EXPIRED", "publish/elsewhere": "allow", "play/elsewhere": "EDGE_ERR_TOKEN_EXPIRED" },
  ],
  [
    "token revoked",
    { verify: { ok: false, code: "EDGE_ERR_TOKEN_REVOKED" } },
    { "publish/here": "allow", "play/here": "EDGE_ERR_TOKEN_REVOKED", "publish/elsewhere": "allow", "play/elsewhere": "EDGE_ERR_TOKEN_REVOKED" },
  ],
  [
    "token for another stream",
    { verify: { ok: true, claims: claims({ streams: ["other"] }) } },
    { "publish/here": "allow", "play/here": "EDGE_ERR_TOKEN_SCOPE", "publish/elsewhere": "allow", "play/elsewhere": "EDGE_ERR_TOKEN_SCOPE" },
  ],
  [
    "token bound to another IP",
    { verify: { ok: true, claims: claims({ ip: "198.51.100.1" }) } },
    { "publish/here": "allow", "play/here": "EDGE_ERR_TOKEN_IP", "publish/elsewhere": "allow", "play/elsewhere": "EDGE_ERR_TOKEN_IP" },
  ],
  [
    "org-wide token of this org",
    { verify: { ok: true, claims: claims({ streams: undefined, orgawide: true }) } },
    { "publish/here": "allow", "play/here": "allow", "publish/elsewhere": "allow", "play/elsewhere": "allow" },
  ],
  [
    "webhook refuses",
    { webhook: "deny" },
    { "publish/here": "EDGE_ERR_WEBHOOK_DENIED", "play/here": "allow", "publish/elsewhere": "EDGE_ERR_WEBHOOK_DENIED", "play/elsewhere": "allow" },
  ],
  ["no webhook", { webhook: null }, { "publish/here": "allow", "play/here": "allow", "publish/elsewhere": "allow", "play/elsewhere": "allow" }],
];

// Every protocol ends in one request (the hooks of foreign servers included): the same world gets
// the same answer whichever protocol asks.
const PROTOCOLS: AccessRequest["protocol"][] = ["rtmp", "flv", "http", "hook"];

t.test("outcome × action × media × protocol", async (t) => {
  for (const [name, change, expected] of rows) {
    for (const column of COLUMNS) {
      const [action, media] = column.split("/") as ["publish" | "play", "here" | "elsewhere"];
      const answers = await Promise.all(
        PROTOCOLS.map(async (protocol) => {
          const { decision } = await run({ ...base, ...change }, action, media, protocol);
          return decision.allow ? "allow" : decision.code;
        }),
      );
      t.same(
        answers,
        PROTOCOLS.map(() => expected[column]),
        `${name}: ${column}, over ${PROTOCOLS.join(" / ")}`,
      );
    }
  }
});

t.test("order of checks: what each refusal spared", async (t) => {
  const asked = async (change: Partial<World>, action: "publish" | "play", media: "here" | "elsewhere" = "here") =>
    (await run({ ...base, ...change }, action, media)).calls;
  t.same(await asked({ app: "vod" }, "publish"), ["failure"], "unknown app: nothing asked, a failed publish counted");
  t.same(await asked({ app: "vod" }, "play"), [], "unknown app: nothing asked");
  t.same(await asked({ blocked: true }, "publish"), ["blocked"], "blocked scanner: no lookup, no new failure");
  t.same(await asked({ blocked: true }, "play"), ["rules", "lookup", "locate", "verify"], "plays are not rate-limited");
  t.same(await asked({ stream: null }, "publish"), ["blocked", "rules", "lookup", "locate", "failure"], "unknown key: spends the budget");
  t.same(await asked({ stream: "unavailable" }, "publish"), ["blocked", "rules", "lookup"], "bintu down is not the client's failure");
  t.same(await asked({ location: LIVE_HERE }, "publish"), ["blocked", "rules", "lookup", "locate"], "busy: no webhook, no failure");
  t.same(await asked({}, "publish", "elsewhere"), ["blocked", "rules", "lookup", "webhook"], "another server carries the media: not located");
  t.same(await asked({}, "publish"), ["blocked", "rules", "lookup", "locate", "webhook"], "allowed publish: webhook last");
  t.same(await asked({ webhook: "deny" }, "publish"), ["blocked", "rules", "lookup", "locate", "webhook", "failure"], "webhook refusal spends the budget");
  const ipRule = { rules: { allow: false, ruleId: "r", kind: "ip" } } as const;
  t.same(await asked(ipRule, "publish"), ["blocked", "rules"], "address-level Guardian refusal: before the lookup, no webhook");
  t.same(await asked({}, "play"), ["rules", "lookup", "locate", "verify"], "allowed play: token last, never the webhook");
  t.same(await asked({ rules: { allow: false, ruleId: "r", kind: "country" } }, "play"), ["rules"], "Guardian refusal: no lookup, no token check");
  t.same(await asked({ token: undefined }, "play"), ["rules", "lookup", "locate"], "no token: nothing to verify");
  // With a tag-scoped rule in force the rules need the stream's tags: lookup, then rules, then the state.
  t.same(await asked({ ...ipRule, tagRules: true }, "publish"), ["blocked", "lookup", "rules"], "tag rules: decided after the lookup, before the state");
  t.same(await asked({ ...ipRule, tagRules: true, stream: null }, "play"), ["lookup", "rules"], "tag rules, unknown key: still the Guardian's answer");
  t.same(await asked({ tagRules: true }, "play"), ["lookup", "rules", "locate", "verify"], "tag rules, allowed play");
});

t.test("what the Guardian is shown: the name always, the tags only when a tag rule needs them", async (t) => {
  const before = await run({ ...base }, "play", "here");
  t.same(
    before.seen.map((r) => [r.stream, r.tags]),
    [[STREAM.name, []]],
    "before the lookup: no tags",
  );
  const after = await run({ ...base, tagRules: true }, "play", "here");
  t.same(
    after.seen.map((r) => [r.stream, r.tags]),
    [[STREAM.name, STREAM.tags]],
    "after the lookup: the stream's tags",
  );
  const unknown = await run({ ...base, tagRules: true, stream: null }, "publish", "here");
  t.same(
    unknown.seen.map((r) => r.tags),
    [[]],
    "an unknown key has no tags",
  );
});

t.test("an allowed play keeps the token it was allowed with, for the live-session policy", async (t) => {
  const { decision } = await run({ ...base, verify: { ok: true, claims: claims({ forceDisconnect: true, jti: "j-9" }) } }, "play", "here");
  t.same(decision, { allow: true, stream: STREAM, token: { jti: "j-9", exp: NOW_SEC + 600, forceDisconnect: true } });
  const { decision: untokened } = await run({ ...base, tokensRequired: false }, "play", "here");
  t.same(untokened, { allow: true, stream: STREAM }, "no token required: none kept");
});

t.test("decide() and streamVerdict() are pure answers of their inputs", async (t) => {
  const req: AccessRequest = { action: "play", protocol: "flv", media: "here", app: "live", name: STREAM.name, query: {}, ip: "203.0.113.7" };
  t.same(decide(req, ["live"], STREAM, { at: "here" }), { allow: true, stream: STREAM });
  t.same(decide(req, ["live"], { ...STREAM, state: "live" }, { at: "nowhere" }), { allow: false, code: "EDGE_ERR_STREAM_NOT_LIVE" });
  t.same(decide({ ...req, app: "x" }, ["live"], null, { at: "here" }), { allow: false, code: "EDGE_ERR_BAD_APP" }, "app before stream");
  // Origin pull (issue 13): a play of a stream live elsewhere is allowed with `pull` by the mode.
  const onA = { at: "edge", edge: "a", urls: { flv: "http://a:8000" } } as const;
  t.same(decide(req, ["live"], STREAM, onA), { allow: false, code: "EDGE_ERR_STREAM_NOT_LIVE" }, "no pulls: refused");
  t.same(decide(req, ["live"], STREAM, onA, "located"), { allow: true, stream: STREAM, pull: true }, "located on an edge: pulled");
  t.same(
    decide(req, ["live"], STREAM, { at: "edge", edge: "nginx" }, "located"),
    { allow: false, code: "EDGE_ERR_STREAM_NOT_LIVE" },
    "no URL (a foreign server): refused",
  );
  t.same(decide(req, ["live"], STREAM, { at: "nowhere" }, "located"), { allow: false, code: "EDGE_ERR_STREAM_NOT_LIVE" }, "no owner: refused");
  t.same(decide(req, ["live"], STREAM, { at: "nowhere" }, "any"), { allow: true, stream: STREAM, pull: true }, "static origins: asked");
  t.same(decide(req, ["live"], STREAM, { at: "here" }, "any"), { allow: true, stream: STREAM }, "live here: never pulled");
  t.same(decide({ ...req, action: "publish" }, ["live"], STREAM, onA, "any"), { allow: false, code: "EDGE_ERR_STREAM_BUSY" }, "publish: busy as before");
  for (const state of ["created", "live", "ended"] as const) t.equal(streamVerdict({ ...STREAM, state }), null, `${state} may be live`);
  t.equal(streamVerdict({ ...STREAM, state: "locked" }), "EDGE_ERR_STREAM_LOCKED");
  t.equal(streamVerdict({ ...STREAM, state: "deleted" }), "EDGE_ERR_STREAM_DELETED");
});

t.test("every decision is reported once with its duration (the latency histogram), allowed or not", async (t) => {
  for (const change of [{}, { stream: null }, { webhook: "deny" as const }]) {
    const { decision, reported, req } = await run({ ...base, ...change }, "play", "here");
    t.equal(reported.length, 1);
    t.equal(reported[0].req, req);
    t.equal(reported[0].decision, decision);
    t.equal(reported[0].ms, 7, "read before and after the decision");
  }
});
