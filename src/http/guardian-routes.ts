// The Guardian API on the control port (issue 5 §2): nanoStream's `POST /ip {ip, type, tag}` and
// `POST /referer {domain, info, type}` under /guardian, plus what nanoStream documents no endpoint
// for: country rules, listing and deleting. Errors use bintu's envelope with the guardian rows of
// src/http/wire-codes.ts; a refused body stores nothing. Rules from the rules file are listed but
// not deletable here: the file is their source of truth.
import type { FastifyError, FastifyInstance, FastifyReply } from "fastify";
import { EdgeError } from "../errors.js";
import type { Guardian } from "../guardian/guardian.js";
import { parseRule, RuleValidationError, VALUE_FIELD, type Rule, type RuleKind } from "../guardian/rules.js";
import type { RuleStore } from "../guardian/rule-store.js";
import { requireRole, type AdminAuth } from "./admin-auth.js";
import { acceptOptionalJsonBody } from "./json-body.js";
import { guardianError, sendBintuFastifyError } from "./wire-codes.js";

export interface GuardianRoutesDeps {
  guardian: Guardian;
  store: RuleStore;
  auth: AdminAuth;
  /** API rules in force at most (`guardian.maxRules`). */
  maxRules: number;
  now?: () => number;
}

/** Both spellings nanoStream uses (docs/nanostream.md §3). */
const KINDS = new Map<string, RuleKind>([
  ["ip", "ip"],
  ["referer", "referer"],
  ["referrer", "referer"],
  ["country", "country"],
]);

type ListQuery = { Querystring: { stream?: unknown; tag?: unknown } };

/** A rule as the API shows it: our model, times in ISO 8601, and the value under nanoStream's field name too. */
export function ruleJson(rule: Rule) {
  return {
    id: rule.id,
    kind: rule.kind,
    [VALUE_FIELD[rule.kind]]: rule.value,
    value: rule.value,
    type: rule.type,
    actions: rule.actions,
    scope: rule.scope,
    mode: rule.mode,
    enforceOnActive: rule.enforceOnActive === true,
    ...(rule.info !== undefined && { info: rule.info }),
    ...(rule.tag !== undefined && { tag: rule.tag }),
    createdAt: new Date(rule.createdAt).toISOString(),
    expiresAt: rule.expiresAt === undefined ? null : new Date(rule.expiresAt).toISOString(),
    source: rule.source,
  };
}

/** A fleet store (issue 12) that cannot take the write: 503, nothing changed. */
const fleetDown = (err: unknown) => err instanceof EdgeError && err.code === "EDGE_ERR_CLUSTER_UNAVAILABLE";

export function registerGuardianRoutes(app: FastifyInstance, deps: GuardianRoutesDeps): void {
  // Its own scope: the JSON parser and error handler below apply to these routes only.
  void app.register(async (scope) => guardianRoutes(scope, deps));
  // Ours, not nanoStream's: under /v1 with the edge's error envelope. Newest first; `recorded`
  // counts every would-deny since start, so a reader sees how many the ring no longer holds.
  app.get("/v1/guardian/would-deny", { onRequest: requireRole(deps.auth, "nanoReadOnly", "edge") }, async () => {
    const log = deps.guardian.wouldDenies;
    return {
      capacity: log.capacity,
      recorded: log.recorded,
      events: log.recent().map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
    };
  });
}

async function guardianRoutes(scope: FastifyInstance, { guardian, store, auth, maxRules, now = Date.now }: GuardianRoutesDeps) {
  acceptOptionalJsonBody(scope);
  scope.setErrorHandler<FastifyError>(async (error, _request, reply) => sendBintuFastifyError(reply, "guardian", error));

  // Auth at onRequest: an anonymous caller gets 401 before any body is read.
  const read = requireRole(auth, "nanoReadOnly", "guardian");
  const write = requireRole(auth, "nanoUser", "guardian");

  const create = (kind: RuleKind) => async (request: { body: unknown }, reply: FastifyReply) => {
    try {
      const draft = parseRule(kind, request.body, { source: "api", nowMs: now() });
      // Checked and added in one turn (add writes synchronously up to its first await): no race past it.
      if (store.count() >= maxRules) return guardianError(reply, "rule_limit", { max: maxRules });
      return ruleJson(await store.add(draft));
    } catch (err) {
      if (fleetDown(err)) return guardianError(reply, "cluster_unavailable");
      if (!(err instanceof RuleValidationError)) throw err;
      // bintu's own userinfo keys (docs/nanostream.md §1.4): `required_parameter` for a missing one.
      return err.problem === "missing"
        ? guardianError(reply, "parameter_required", { required_parameter: err.field })
        : guardianError(reply, "wrong_data_type", { parameter: err.field, reason: err.reason });
    }
  };
  for (const [path, kind] of KINDS) scope.post(`/guardian/${path}`, { onRequest: write }, create(kind));

  function list(kind: RuleKind | undefined, query: ListQuery["Querystring"], reply: FastifyReply) {
    for (const key of ["stream", "tag"] as const) {
      if (query[key] !== undefined && typeof query[key] !== "string") {
        return guardianError(reply, "wrong_data_type", { parameter: key, reason: "one string" });
      }
    }
    const filter = { kind, stream: query.stream as string | undefined, tag: query.tag as string | undefined };
    const fromFile = guardian.snapshot.rules.filter(
      (r) =>
        r.source === "file" &&
        (filter.kind === undefined || r.kind === filter.kind) &&
        (filter.stream === undefined || r.scope.stream === filter.stream) &&
        (filter.tag === undefined || r.scope.tag === filter.tag),
    );
    return [...store.list(filter), ...fromFile].map(ruleJson);
  }

  scope.get<ListQuery>("/guardian", { onRequest: read }, async (request, reply) => list(undefined, request.query, reply));

  scope.get<ListQuery & { Params: { kind: string } }>("/guardian/:kind", { onRequest: read }, async (request, reply) => {
    const kind = KINDS.get(request.params.kind);
    if (kind === undefined) return guardianError(reply, "rule_not_found", { kind: request.params.kind });
    return list(kind, request.query, reply);
  });

  scope.delete<{ Params: { kind: string; id: string } }>("/guardian/:kind/:id", { onRequest: write }, async (request, reply) => {
    const kind = KINDS.get(request.params.kind);
    const { id } = request.params;
    try {
      if (kind !== undefined && (await store.remove(id, kind))) return reply.code(204).send();
    } catch (err) {
      if (fleetDown(err)) return guardianError(reply, "cluster_unavailable");
      throw err;
    }
    if (guardian.snapshot.rules.some((r) => r.source === "file" && r.id === id)) {
      return guardianError(reply, "rule_in_file", { reason: "the rule comes from the rules file; change the file" });
    }
    return guardianError(reply, "rule_not_found", { id });
  });
}
