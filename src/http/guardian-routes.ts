// The Guardian API on the control port (issue 5 §2): nanoStream's `POST /ip {ip, type, tag}` and
// `POST /referer {domain, info, type}` under /guardian, plus what nanoStream documents no endpoint
// for: country rules, listing and deleting. Errors use bintu's envelope (docs/nanostream.md §1.4);
// a refused body stores nothing. Rules from the rules file are listed but not deletable here:
// the file is their source of truth.
import type { FastifyError, FastifyInstance, FastifyReply } from "fastify";
import type { Guardian } from "../guardian/guardian.js";
import { parseRule, RuleValidationError, VALUE_FIELD, type Rule, type RuleKind } from "../guardian/rules.js";
import type { GuardianStore } from "../guardian/store.js";
import type { AdminAuth } from "./admin-auth.js";
import { acceptOptionalJsonBody } from "./json-body.js";
import { BINTU_ERRORS, sendBintuError, type BintuErrorKind } from "./bintu-errors.js";

export interface GuardianRoutesDeps {
  guardian: Guardian;
  store: GuardianStore;
  auth: AdminAuth;
  now?: () => number;
}

// bintu documents no code for an unknown rule; 404 with 3005 is our choice (3004 = stream).
const RULE_NOT_FOUND: BintuErrorKind = { http: 404, code: 3005, message: "Rule not found" };

/** Both spellings nanoStream uses (docs/nanostream.md §3). */
const KINDS = new Map<string, RuleKind>([["ip", "ip"], ["referer", "referer"], ["referrer", "referer"], ["country", "country"]]);

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
    ...(rule.info !== undefined && { info: rule.info }),
    ...(rule.tag !== undefined && { tag: rule.tag }),
    createdAt: new Date(rule.createdAt).toISOString(),
    expiresAt: rule.expiresAt === undefined ? null : new Date(rule.expiresAt).toISOString(),
    source: rule.source,
  };
}

export function registerGuardianRoutes(app: FastifyInstance, deps: GuardianRoutesDeps): void {
  // Its own scope: the JSON parser and error handler below apply to these routes only.
  void app.register(async (scope) => guardianRoutes(scope, deps));
}

async function guardianRoutes(scope: FastifyInstance, { guardian, store, auth, now = Date.now }: GuardianRoutesDeps) {
  acceptOptionalJsonBody(scope);
  scope.setErrorHandler<FastifyError>(async (error, _request, reply) => {
    if (error.code === "FST_ERR_CTP_INVALID_JSON_BODY") {
      return sendBintuError(reply, BINTU_ERRORS.wrongDataType, { reason: "body is not valid JSON" });
    }
    throw error; // fastify's own handling (413, 415, 500…)
  });

  // Auth at onRequest: an anonymous caller gets 401 before any body is read.
  const read = auth.requireRole("nanoReadOnly");
  const write = auth.requireRole("nanoUser");

  const create = (kind: RuleKind) => async (request: { body: unknown }, reply: FastifyReply) => {
    try {
      return ruleJson(store.add(parseRule(kind, request.body, { source: "api", nowMs: now() })));
    } catch (err) {
      if (!(err instanceof RuleValidationError)) throw err;
      const kindOfError = err.code === 1002 ? BINTU_ERRORS.parameterRequired : BINTU_ERRORS.wrongDataType;
      return sendBintuError(reply, kindOfError, err.userinfo);
    }
  };
  for (const [path, kind] of KINDS) scope.post(`/guardian/${path}`, { onRequest: write }, create(kind));

  function list(kind: RuleKind | undefined, query: ListQuery["Querystring"], reply: FastifyReply) {
    for (const key of ["stream", "tag"] as const) {
      if (query[key] !== undefined && typeof query[key] !== "string") {
        return sendBintuError(reply, BINTU_ERRORS.wrongDataType, { parameter: key, reason: "one string" });
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
    if (kind === undefined) return sendBintuError(reply, RULE_NOT_FOUND, { kind: request.params.kind });
    return list(kind, request.query, reply);
  });

  scope.delete<{ Params: { kind: string; id: string } }>("/guardian/:kind/:id", { onRequest: write }, async (request, reply) => {
    const kind = KINDS.get(request.params.kind);
    const { id } = request.params;
    if (kind !== undefined && store.remove(id, kind)) return reply.code(204).send();
    if (guardian.snapshot.rules.some((r) => r.source === "file" && r.id === id)) {
      return sendBintuError(reply, BINTU_ERRORS.accessDenied, { reason: "the rule comes from the rules file; change the file" });
    }
    return sendBintuError(reply, RULE_NOT_FOUND, { id });
  });
}
