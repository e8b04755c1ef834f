// The fleet's claim in the access decision (issue 12 §2, src/access/ports.ts PublishClaim), over
// plain fakes of the ports: asked after every other publish check and before the webhook; "busy"
// refuses EDGE_ERR_STREAM_BUSY without spending the client's failed-publish budget; "unavailable"
// (Redis down) allows; a webhook refusal gives the claim back; plays and decisions for media
// carried elsewhere (hooks, /v1/authorize) never claim.
import t from "tap";
import { AccessControl, type AccessRequest } from "../../src/access/access.js";
import type { StreamInfo } from "../../src/bintu/directory.js";

const STREAM: StreamInfo = { id: "6b1c0c1e-0000-4000-8000-000000000002", name: "AbCd3-x7Qk9", state: "created", tags: [] };
const PUBLISH: AccessRequest = {
  action: "publish",
  protocol: "rtmp",
  media: "here",
  app: "live",
  name: STREAM.name,
  query: {},
  ip: "203.0.113.9",
  clientId: "s-1",
};

function world(answer: "ok" | "busy" | "unavailable", webhook: "allow" | "deny" = "allow") {
  const calls: string[] = [];
  const access = new AccessControl({
    streams: { lookup: async () => (calls.push("lookup"), STREAM) },
    locator: { locate: () => (calls.push("locate"), { at: "nowhere" }) },
    claim: {
      claim: async (app, name, session) => (calls.push(`claim ${app}/${name} ${session}`), answer),
      release: (app, name, session) => void calls.push(`release ${app}/${name} ${session}`),
    },
    apps: ["live"],
    limiter: { blocked: () => false, recordFailure: () => void calls.push("failure") },
    webhook: { publish: async () => (calls.push("webhook"), webhook) },
    rules: { decide: () => ({ allow: true, reportedRuleIds: [] }), needsTags: () => false },
    tokens: null,
    org: "org-1",
  });
  return { access, calls };
}

t.test("a publish claims the key after every other check, before the webhook", async (t) => {
  const { access, calls } = world("ok");
  t.same(await access.check(PUBLISH), { allow: true, stream: STREAM });
  t.same(calls, ["lookup", "locate", `claim live/${STREAM.name} s-1`, "webhook"]);
});

t.test("busy: refused as a duplicate, no webhook, no budget spent", async (t) => {
  const { access, calls } = world("busy");
  t.same(await access.check(PUBLISH), { allow: false, code: "EDGE_ERR_STREAM_BUSY" });
  t.notOk(calls.includes("webhook"), "the organisation never hears of it");
  t.notOk(calls.includes("failure"), "a busy key is not the client's failure");
});

t.test("unavailable (Redis down): allowed, the fleet settles it later", async (t) => {
  const { access } = world("unavailable");
  t.same(await access.check(PUBLISH), { allow: true, stream: STREAM });
});

t.test("a webhook refusal gives the claim back", async (t) => {
  const { access, calls } = world("ok", "deny");
  t.same(await access.check(PUBLISH), { allow: false, code: "EDGE_ERR_WEBHOOK_DENIED" });
  t.equal(calls.at(-2), `release live/${STREAM.name} s-1`);
});

t.test("plays and media carried elsewhere never claim", async (t) => {
  const { access, calls } = world("busy");
  await access.check({ ...PUBLISH, media: "elsewhere", protocol: "hook" });
  await access.check({ action: "play", protocol: "flv", media: "here", app: "live", name: STREAM.name, query: {}, ip: "203.0.113.9" });
  t.notOk(
    calls.some((c) => c.startsWith("claim")),
    "no claim asked",
  );
});
