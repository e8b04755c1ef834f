// Guardian API rules and playback-token revocations shared by the fleet (issue 12 "Part log").
//
// FleetRules is the RuleStore port (src/guardian/rule-store.ts) of a fleet edge: reads answer from
// the local SQLite GuardianStore, which is the on-disk copy of the replica's `rule:` records (a cold
// start without Redis serves the last known rules); writes are posted to the change log and resolve
// once this edge has applied them, so a POST answers with the rule in force here — and on every
// other edge as soon as its replica applies the same change. The rules file stays per edge.
//
// Revocations: `revoke:<jti>` records, applied into the local RevocationStore, whose listeners end
// running players with that jti (the live-session policy) on every edge.
import { randomUUID } from "node:crypto";
import type { JwksFollower } from "../auth/jwks-follower.js";
import type { Jwks } from "../auth/keys.js";
import type { RevocationStore } from "../auth/revocations.js";
import type { Logger } from "../log.js";
import type { RuleChange, RuleFilter, RuleStore } from "../guardian/rule-store.js";
import type { Rule, RuleDraft, RuleKind } from "../guardian/rules.js";
import type { GuardianStore } from "../guardian/store.js";
import type { Replica } from "./replica.js";

export interface FleetRulesOptions {
  /** Default lifetime of IP rules without an expiry (guardian.ipRuleTtlMs), as GuardianStore applies it. */
  readonly ipRuleTtlMs: number;
  readonly now?: () => number;
}

/** What makes two rules the same rule (as GuardianStore's `identity` column). */
const identity = (r: RuleDraft | Rule) => JSON.stringify([r.kind, r.value, r.type, r.actions, r.scope.stream ?? null, r.scope.tag ?? null, r.mode]);

export class FleetRules implements RuleStore {
  private readonly now: () => number;

  constructor(
    private readonly replica: Replica,
    private readonly store: GuardianStore,
    private readonly options: FleetRulesOptions,
  ) {
    this.now = options.now ?? Date.now;
    replica.on("rule", {
      apply: (id, value) => (value === null ? void store.remove(id) : store.put(value as Rule)),
      // After a cold start or a snapshot: rules the fleet no longer has go from the local copy too.
      present: (ids) => {
        for (const id of store.ids()) if (!ids.has(id)) void store.remove(id);
      },
      local: () => store.list().map((rule) => [rule.id, rule]),
    });
  }

  list(filter?: RuleFilter): readonly Rule[] {
    return this.store.list(filter);
  }

  count(): number {
    return this.store.count();
  }

  /**
   * Posts the rule (the identical rule's id and creation time when one exists, so re-posting
   * refreshes it as on one edge); rejects with ClusterUnavailableError when the fleet cannot take it.
   */
  async add(draft: RuleDraft): Promise<Rule> {
    const now = this.now();
    const same = this.store.list({ kind: draft.kind }).find((r) => identity(r) === identity(draft));
    const ttl = draft.kind === "ip" && draft.expiresAt === undefined && this.options.ipRuleTtlMs > 0 ? now + this.options.ipRuleTtlMs : undefined;
    const expiresAt = draft.expiresAt ?? ttl;
    const rule: Rule = {
      id: same?.id ?? randomUUID(),
      kind: draft.kind,
      value: draft.value,
      type: draft.type,
      actions: draft.actions,
      scope: draft.scope,
      ...(expiresAt !== undefined && { expiresAt }),
      ...(draft.info !== undefined && { info: draft.info }),
      ...(draft.tag !== undefined && { tag: draft.tag }),
      mode: draft.mode,
      ...(draft.enforceOnActive && { enforceOnActive: true }),
      createdAt: same?.createdAt ?? now,
      source: "api",
    };
    await this.replica.post(`rule:${rule.id}`, rule);
    return this.store.get(rule.id) ?? rule;
  }

  async remove(id: string, kind?: RuleKind): Promise<boolean> {
    const rule = this.store.get(id);
    if (rule === undefined || (kind !== undefined && rule.kind !== kind)) return false;
    await this.replica.post(`rule:${id}`, null);
    return true;
  }

  onChange(listener: (change: RuleChange) => void): () => void {
    return this.store.onChange(listener);
  }
}

/**
 * Revocations through the fleet: `revoke(jti, exp)` posts the record; its arrival (here and on every
 * other edge) revokes in the local store, which tells the live-session policy.
 */
export function fleetRevocations(replica: Replica, store: RevocationStore): (jti: string, exp: number) => Promise<void> {
  replica.on("revoke", {
    // A revocation cannot be undone (docs/nanostream.md §2.2): a deleted record changes nothing here.
    apply: (jti, value) => {
      if (value !== null) store.revoke(jti, (value as { exp: number }).exp);
    },
    local: () => store.entries().map(({ jti, exp }) => [jti, { exp }]),
  });
  return async (jti, exp) => {
    if (store.has(jti) && replica.get(`revoke:${jti}`) !== undefined) return;
    await replica.post(`revoke:${jti}`, { exp });
  };
}

/**
 * Token keys through the fleet. A key is added or rotated on one edge by its `auth.keys` and the
 * restart that loads them (there is no other way to change an edge's keys); at once after that
 * start — on the replica's first join, and again after every re-join — the edge posts the public
 * JWKs it has and the fleet lacks, and deletes the `key:` records it posted earlier for keys it no
 * longer has (rotated out of `auth.keys`), so a retired key stops verifying fleet-wide too. Every
 * edge's verifier accepts every fleet key (no auth.jwksUrls needed). `forgetVerified` is told when
 * a fleet key goes or changes: tokens verified with it must not live on in a verified-token cache.
 */
export function fleetKeys(
  replica: Replica,
  edge: string,
  local: () => Jwks,
  follower: Pick<JwksFollower, "setFleetKey">,
  log: Logger,
  forgetVerified: () => void = () => {},
): void {
  const post = (kid: string, record: unknown) =>
    replica
      .post(`key:${kid}`, record)
      .catch((err: Error) => log.warn("posting a token key to the fleet failed; retried on the next join", { kid, error: err.message }));
  replica.on("key", {
    apply: (kid, value) => {
      const known = follower.setFleetKey(kid, value === null ? null : (value as { jwk: unknown }).jwk);
      if (known) forgetVerified();
      // Edges configured with one shared key: another edge retiring it must not take it from the
      // fleet while this edge still has it, so this edge posts it back.
      const mine = value === null && replica.status().connected ? local().keys.find((jwk) => jwk.kid === kid) : undefined;
      if (mine) void post(kid, { edge, jwk: mine });
    },
  });
  replica.onSynced(() => {
    const mine = local().keys;
    for (const jwk of mine) {
      const record = { edge, jwk };
      if (JSON.stringify(replica.get(`key:${jwk.kid}`)) !== JSON.stringify(record)) void post(jwk.kid, record);
    }
    const kids = new Set(mine.map((jwk) => jwk.kid));
    for (const [kid, record] of replica.entries("key")) if ((record as { edge?: string }).edge === edge && !kids.has(kid)) void post(kid, null);
  });
}
