// Rule bodies (issue 5 §1-§2): country codes, nanoStream's shapes and ours, and refusals naming the
// field (missing or invalid). The address, CIDR and domain parsers the rules use are tested in
// test/primitives/ (ip.test.ts, domain.test.ts).
import t from "tap";
import { ISO_COUNTRIES } from "../../src/guardian/countries.js";
import { kindOfEntry, parseRule, RuleValidationError, type RuleProblem } from "../../src/guardian/rules.js";
import { NOW } from "./helpers.js";

const api = { source: "api" as const, nowMs: NOW };

function refusal(fn: () => unknown): RuleValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RuleValidationError) return err;
    throw err;
  }
  throw new Error("expected a RuleValidationError");
}

t.test("country codes: the 249 of ISO 3166-1, plus XK; case-insensitive; `*`", async (t) => {
  t.equal(ISO_COUNTRIES.size, 249);
  t.equal(parseRule("country", { country: "de", type: "deny" }, api).value, "DE");
  t.equal(parseRule("country", { country: "XK", type: "deny" }, api).value, "XK");
  t.equal(parseRule("country", { country: "*", type: "deny" }, api).value, "*");
  for (const bad of ["UK", "EU", "DEU", "D", "ZZ", "276"]) {
    t.equal(refusal(() => parseRule("country", { country: bad, type: "deny" }, api)).field, "country", bad);
  }
});

t.test("bodies: nanoStream shapes and ours", async (t) => {
  t.same(parseRule("ip", { ip: "103.13.113.0/24", type: "deny", tag: "abuse" }, api), {
    kind: "ip",
    value: "103.13.113.0/24",
    type: "deny",
    actions: ["play"],
    scope: {},
    mode: "enforce",
    tag: "abuse",
  });
  t.same(parseRule("referer", { domain: "bad.com", info: "hotlinker", type: "deny" }, api), {
    kind: "referer",
    value: "bad.com",
    type: "deny",
    actions: ["play"],
    scope: {},
    mode: "enforce",
    info: "hotlinker",
  });
  const full = parseRule("country", { country: "CN", type: "deny", actions: ["publish", "play"], stream: "AbCdE-12345", ttlSeconds: 60, mode: "report" }, api);
  t.same(full, {
    kind: "country",
    value: "CN",
    type: "deny",
    actions: ["play", "publish"],
    scope: { stream: "AbCdE-12345" },
    mode: "report",
    expiresAt: NOW + 60_000,
  });
  t.same(parseRule("ip", { ip: "::1", type: "allow", tagScope: "vip" }, api).scope, { tag: "vip" });
  t.same(parseRule("ip", { ip: "::1", type: "allow", scope: { tag: "vip" } }, api).scope, { tag: "vip" });
  t.equal(parseRule("ip", { ip: "::1", type: "deny", ttlSeconds: 0 }, api).expiresAt, null, "ttlSeconds 0 = never expires");
  t.equal(parseRule("ip", { ip: "::1", type: "deny", expiresAt: "2099-01-01T00:00:00Z" }, api).expiresAt, Date.parse("2099-01-01T00:00:00Z"));
  t.equal(parseRule("ip", { ip: "::1", type: "deny", expiresAt: NOW + 5 }, api).expiresAt, NOW + 5);
});

t.test("refused bodies say whether the field is missing or invalid, and name it", async (t) => {
  const cases: [string, unknown, RuleProblem, string][] = [
    ["ip", { type: "deny" }, "missing", "ip"],
    ["ip", { ip: "1.2.3.4" }, "missing", "type"],
    ["ip", { ip: 16909060, type: "deny" }, "invalid", "ip"],
    ["ip", { ip: "1.2.3.4", type: "block" }, "invalid", "type"],
    ["ip", { ip: "1.2.3.4", type: "deny", actions: [] }, "invalid", "actions"],
    ["ip", { ip: "1.2.3.4", type: "deny", actions: ["watch"] }, "invalid", "actions"],
    ["ip", { ip: "1.2.3.4", type: "deny", stream: "a/b" }, "invalid", "stream"],
    ["ip", { ip: "1.2.3.4", type: "deny", stream: "s1", tagScope: "t" }, "invalid", "scope"],
    ["ip", { ip: "1.2.3.4", type: "deny", scope: { stream: "s1", tag: "t" } }, "invalid", "scope"],
    ["ip", { ip: "1.2.3.4", type: "deny", scope: { team: "x" } }, "invalid", "scope.team"],
    ["ip", { ip: "1.2.3.4", type: "deny", stram: "s1" }, "invalid", "stram"],
    ["ip", { ip: "1.2.3.4", type: "deny", expiresAt: NOW - 1 }, "invalid", "expiresAt"],
    ["ip", { ip: "1.2.3.4", type: "deny", expiresAt: "tomorrow" }, "invalid", "expiresAt"],
    ["ip", { ip: "1.2.3.4", type: "deny", expiresAt: NOW + 9, ttlSeconds: 9 }, "invalid", "expiresAt"],
    ["ip", { ip: "1.2.3.4", type: "deny", ttlSeconds: -1 }, "invalid", "ttlSeconds"],
    ["ip", { ip: "1.2.3.4", type: "deny", ttlSeconds: 1.5 }, "invalid", "ttlSeconds"],
    ["ip", { ip: "1.2.3.4", type: "deny", mode: "dry-run" }, "invalid", "mode"],
    ["ip", { ip: "1.2.3.4", type: "deny", id: "mine" }, "invalid", "id"],
    ["ip", [], "invalid", "body"],
    ["ip", null, "invalid", "body"],
    ["referer", { domain: "https://bad.com/", type: "deny" }, "invalid", "domain"],
    ["referer", { ip: "1.2.3.4", type: "deny" }, "invalid", "ip"],
  ];
  for (const [kind, body, problem, field] of cases) {
    const err = refusal(() => parseRule(kind as "ip", body, api));
    t.equal(`${err.problem} ${err.field}`, `${problem} ${field}`, JSON.stringify(body));
    t.equal(err.message, problem === "missing" ? `${field} is required` : `${field}: ${err.reason}`, "the rules file's message");
  }
  t.equal(
    refusal(() => parseRule("ip", { ip: "1.2.3.4", type: "deny", ttlSeconds: 60 }, { source: "file", nowMs: NOW })).field,
    "ttlSeconds",
    "the file takes absolute times",
  );
  t.equal(kindOfEntry({ domain: "x.com" }), "referer");
  t.equal(refusal(() => kindOfEntry({ ip: "1.2.3.4", domain: "x.com" })).field, "rule");
});
