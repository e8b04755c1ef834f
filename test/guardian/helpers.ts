// Rule builders for the Guardian tests: a rule from the API body shape, validated like the API does.
import { parseRule, type Rule, type RuleKind } from "../../src/guardian/rules.js";
import { decide, type Decision, type DecideRequest, type Snapshot } from "../../src/guardian/snapshot.js";

export const NOW = 1_700_000_000_000;

let seq = 0;

/** A rule as the store would hold it: `body` in the API's shape; `at` = createdAt offset. */
export function rule(kind: RuleKind, body: Record<string, unknown>, extra: { id?: string; at?: number; expiresAt?: number } = {}): Rule {
  const draft = parseRule(kind, body, { source: "api", nowMs: NOW });
  const { id: _none, expiresAt, ...rest } = draft;
  const at = extra.expiresAt ?? (typeof expiresAt === "number" ? expiresAt : undefined);
  return { ...rest, id: extra.id ?? `r${++seq}`, createdAt: NOW + (extra.at ?? seq), source: "api", ...(at !== undefined && { expiresAt: at }) };
}

export const ip = (value: string, type: "deny" | "allow", more: Record<string, unknown> = {}, extra = {}) => rule("ip", { ip: value, type, ...more }, extra);
export const ref = (value: string, type: "deny" | "allow", more: Record<string, unknown> = {}, extra = {}) =>
  rule("referer", { domain: value, type, ...more }, extra);
export const country = (value: string, type: "deny" | "allow", more: Record<string, unknown> = {}, extra = {}) =>
  rule("country", { country: value, type, ...more }, extra);

/** decide() with defaults: play, stream s1, no tags, now, missing referrers allowed. */
export function check(snap: Snapshot, req: Partial<DecideRequest>, allowMissingReferer = true): Decision {
  return decide(snap, { action: "play", ip: "192.0.2.1", stream: "s1", tags: [], nowMs: NOW, ...req }, { allowMissingReferer });
}

/** "allow", "allow report:ID,…" or "deny ID kind": one string per decision, easy to compare. */
export function verdict(d: Decision): string {
  if (!d.allow) return `deny ${d.ruleId} ${d.kind}`;
  return d.reportedRuleIds.length > 0 ? `allow report:${d.reportedRuleIds.join(",")}` : "allow";
}
