// The brute-force reference the property tests compare the compiled snapshot against: a plain
// loop over every rule, parsing with ipaddr.js and URL rather than the project's own parsers, so
// the two implementations share nothing but the written precedence rules (snapshot.ts header).
import ipaddr from "ipaddr.js";
import type { Rule } from "../../src/guardian/rules.js";
import type { DecideRequest } from "../../src/guardian/snapshot.js";

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

const ranges = new Map<string, [Addr, number]>();

/** A rule's network as ipaddr.js sees it, with `::ffff:a.b.c.d/96+n` turned into IPv4 /n. */
function ruleRange(value: string): [Addr, number] {
  let range = ranges.get(value);
  if (!range) ranges.set(value, (range = parseRange(value)));
  return range;
}

function parseRange(value: string): [Addr, number] {
  const [addr, prefix] = value.includes("/") ? ipaddr.parseCIDR(value) : [ipaddr.parse(value), value.includes(":") ? 128 : 32];
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    return [(addr as ipaddr.IPv6).toIPv4Address(), prefix - 96];
  }
  return [addr, prefix];
}

function clientAddress(ip: string): Addr {
  try {
    return ipaddr.process(ip.split("%")[0]);
  } catch {
    return ipaddr.parse("0.0.0.0");
  }
}

function hostOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const host = new URL(header.includes("://") ? header : `http://${header}`).hostname;
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

function specificity(rule: Rule): number {
  if (rule.kind === "ip") return ruleRange(rule.value)[1];
  if (rule.value === "*") return 0;
  if (rule.kind === "country") return 1;
  const labels = (d: string) => d.split(".").length;
  return rule.value.startsWith("*.") ? 2 * labels(rule.value.slice(2)) : 2 * labels(rule.value) + 1;
}

function matches(rule: Rule, req: DecideRequest, addr: Addr, host: string | undefined): boolean {
  if (rule.kind === "ip") {
    const [net, prefix] = ruleRange(rule.value);
    return net.kind() === addr.kind() && addr.match(net, prefix);
  }
  if (rule.kind === "country") return rule.value === "*" || rule.value === req.country;
  if (host === undefined) return false;
  if (rule.value === "*") return true;
  if (rule.value.startsWith("*.")) return host.endsWith(rule.value.slice(1));
  return host === rule.value;
}

/** Deny before allow, then older, then by id. */
const tieOrder = (a: Rule, b: Rule) =>
  a.type !== b.type ? (a.type === "deny" ? -1 : 1) : a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function winner(candidates: Rule[]): Rule | undefined {
  return [...candidates].sort((a, b) => specificity(b) - specificity(a) || tieOrder(a, b))[0];
}

export interface RefDecision {
  allow: boolean;
  ruleId?: string;
  kind?: string;
  reportedRuleIds: string[];
}

export function referenceDecide(rules: readonly Rule[], req: DecideRequest, allowMissingReferer: boolean): RefDecision {
  const active = rules.filter(
    (r) =>
      (r.expiresAt === undefined || r.expiresAt > req.nowMs) &&
      r.actions.includes(req.action) &&
      (r.scope.stream !== undefined ? r.scope.stream === req.stream : r.scope.tag !== undefined ? req.tags.includes(r.scope.tag) : true),
  );
  const addr = clientAddress(req.ip);
  const host = hostOf(req.referer || req.origin);
  const refusal = (pool: Rule[]): Rule | undefined => {
    for (const kind of ["ip", "country", "referer"] as const) {
      const ofKind = pool.filter((r) => r.kind === kind);
      if (kind === "referer" && host === undefined) {
        if (allowMissingReferer || ofKind.length === 0) continue;
        return [...ofKind].sort((a, b) => (a.value === "*" ? 0 : 1) - (b.value === "*" ? 0 : 1) || tieOrder(a, b))[0];
      }
      const w = winner(ofKind.filter((r) => matches(r, req, addr, host)));
      if (w?.type === "deny") return w;
    }
    return undefined;
  };
  const denied = refusal(active.filter((r) => r.mode === "enforce"));
  if (denied) return { allow: false, ruleId: denied.id, kind: denied.kind, reportedRuleIds: [] };
  // Report pass, one kind at a time: the report rule that would have refused.
  const reported: string[] = [];
  for (const kind of ["ip", "country", "referer"] as const) {
    const r = refusal(active.filter((x) => x.kind === kind));
    if (r) reported.push(r.id);
  }
  return { allow: true, reportedRuleIds: reported };
}
