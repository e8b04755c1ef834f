import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { ValueErrorType } from "@sinclair/typebox/errors";
import { Value } from "@sinclair/typebox/value";
import type { FastifyError, FastifyInstance, FastifyReply, FastifySchemaCompiler } from "fastify";
import type { StreamRecord, StreamRegistry } from "../bintu/registry/registry.js";
import { toBintuJson, type BintuUrls } from "../bintu/registry/stream-json.js";
import { requireRole, type AdminAuth } from "./admin-auth.js";
import { acceptOptionalJsonBody } from "./json-body.js";
import { bintuError, sendBintuFastifyError, WIRE_CODES, type WireKind } from "./wire-codes.js";

export interface BintuRoutesDeps {
  registry: StreamRegistry;
  auth: AdminAuth;
  urls: BintuUrls;
  /**
   * In a fleet (issue 12 §3): where the stream key is live — GET /stream/:id then carries it as an
   * extra `location` field (bintu clients accept unknown properties, docs/nanostream.md §1.3).
   */
  locate?: (name: string) => Record<string, unknown>;
}

const TagList = Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 64 });
// bintu's POST /stream takes more fields (transcodes, processing, webrtc…); they are accepted
// and ignored, so existing clients keep working.
const CreateStreamBody = Type.Object({ tags: Type.Optional(TagList) });
const SetTagsBody = Type.Object({ tags: TagList });
const OneOrMany = Type.Union([Type.String(), Type.Array(Type.String())]);
const ListStreamsQuery = Type.Object({
  quantity: Type.Optional(Type.Integer({ minimum: 1 })),
  state: Type.Optional(Type.Union(["created", "live", "ended", "locked", "deleted"].map((s) => Type.Literal(s)))),
  // bintu clients send `tags[]=a&tags[]=b`; the querystring parser keeps the brackets in
  // the key, and gives a string for one value, an array for several. `tags` is accepted too.
  "tags[]": Type.Optional(OneOrMany),
  tags: Type.Optional(OneOrMany),
  // Exact, case-sensitive name: not in bintu, used by remote edges to check a stream key.
  streamname: Type.Optional(Type.String()),
});
const GetStreamQuery = Type.Object({ profile: Type.Optional(Type.String()) });

type IdParams = { Params: { id: string } };

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A request part that failed its schema, carrying the bintu error to answer with. */
class BintuValidationError extends Error {
  constructor(
    readonly kind: WireKind<"bintu">,
    readonly userinfo: Record<string, unknown>,
  ) {
    super(WIRE_CODES.bintu[kind].message);
  }
}

/**
 * Validates with TypeBox instead of fastify's Ajv, whose default `coerceTypes: "array"` would
 * turn `{"tags":"a"}` into `["a"]` and `[1]` into `["1"]`: a JSON body must already have the
 * right types. Query strings only carry strings, so there "10" is converted to 10 first.
 */
const typeBoxValidator: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const checker = TypeCompiler.Compile(schema);
  return (data: unknown) => {
    // fastify passes a missing body as null; every body field here is optional or required
    // by name, so an absent body reads as an empty object.
    const given = data ?? {};
    const value = httpPart === "querystring" ? Value.Convert(schema, given) : given;
    if (checker.Check(value)) return { value };
    const first = checker.Errors(value).First();
    const parameter = first?.path.slice(1) || httpPart || "request";
    if (first?.type === ValueErrorType.ObjectRequiredProperty) {
      const userinfo = { required_parameter: parameter }; // bintu's own userinfo key
      return { error: new BintuValidationError("parameter_required", userinfo) };
    }
    const userinfo = { parameter, reason: first?.message };
    return { error: new BintuValidationError("wrong_data_type", userinfo) };
  };
};

export function registerBintuRoutes(app: FastifyInstance, deps: BintuRoutesDeps): void {
  // An encapsulated scope, so the validator, JSON parser and error handler below apply to
  // these routes only.
  void app.register(async (scope) => bintuRoutes(scope, deps));
}

async function bintuRoutes(scope: FastifyInstance, { registry, auth, urls, locate }: BintuRoutesDeps) {
  scope.setValidatorCompiler(typeBoxValidator);

  acceptOptionalJsonBody(scope);

  scope.setErrorHandler<FastifyError>(async (error, _request, reply) => {
    if (error instanceof BintuValidationError) {
      return bintuError(reply, error.kind, error.userinfo);
    }
    return sendBintuFastifyError(reply, "bintu", error);
  });

  const json = (rec: StreamRecord) => toBintuJson(rec, urls);
  const notFound = (reply: FastifyReply) => bintuError(reply, "stream_not_found");

  /** Deleted streams are hidden like unknown ones; a non-UUID can name no stream. */
  function findVisible(id: string): StreamRecord | undefined {
    if (!UUID_PATTERN.test(id)) return undefined;
    const rec = registry.get(id.toLowerCase()); // UUIDs are case-insensitive (RFC 9562)
    return rec?.state === "deleted" ? undefined : rec;
  }

  // Auth runs at onRequest, before the body is read or validated: an anonymous client gets
  // 401 and never makes the server parse anything.
  const readOnly = requireRole(auth, "nanoReadOnly", "bintu");
  const user = requireRole(auth, "nanoUser", "bintu");
  // Lock, unlock and delete are nanoAdmin-only in bintu (docs/nanostream.md §6).
  const admin = requireRole(auth, "nanoAdmin", "bintu");

  scope.post<{ Body: Static<typeof CreateStreamBody> }>("/stream", { onRequest: user, schema: { body: CreateStreamBody } }, async (request) =>
    json(registry.create(request.body.tags)),
  );

  scope.get<{ Querystring: Static<typeof ListStreamsQuery> }>(
    "/stream",
    { onRequest: readOnly, schema: { querystring: ListStreamsQuery } },
    async (request) => {
      const { quantity, state, streamname } = request.query;
      const tags = [request.query["tags[]"], request.query.tags].flat().filter((tag) => tag !== undefined);
      return registry.list({ quantity, state, tags, name: streamname }).map(json);
    },
  );

  scope.get<IdParams & { Querystring: Static<typeof GetStreamQuery> }>(
    "/stream/:id",
    {
      // The player fetches `?profile=player` without credentials (docs/nanostream.md §1.2).
      onRequest: async (request, reply) => ((request.query as { profile?: unknown }).profile === "player" ? undefined : readOnly(request, reply)),
      schema: { querystring: GetStreamQuery },
    },
    async (request, reply) => {
      const rec = findVisible(request.params.id);
      if (!rec) return notFound(reply);
      if (request.query.profile === "player") return toBintuJson(rec, urls, "player");
      // The playouts stay this edge's URLs (where origin pull, issue 13, will serve it); `location`
      // tells an operator or a fleet-aware client which edge the stream is live on now.
      return { ...toBintuJson(rec, urls), ...(locate && { location: locate(rec.name) }) };
    },
  );

  /** Changes one visible stream: 404 for unknown, non-UUID and deleted ids. */
  function changeVisible(reply: FastifyReply, id: string, change: (id: string) => StreamRecord | undefined, present: (rec: StreamRecord) => unknown = json) {
    const existing = findVisible(id);
    const changed = existing && change(existing.id);
    return changed ? present(changed) : notFound(reply);
  }

  scope.put<IdParams & { Body: Static<typeof SetTagsBody> }>("/stream/:id/tag", { onRequest: user, schema: { body: SetTagsBody } }, async (request, reply) =>
    changeVisible(reply, request.params.id, (id) => registry.setTags(id, request.body.tags)),
  );

  // bintu has lock/unlock and delete but documents no paths for them: these are our choice.
  scope.put<IdParams>("/stream/:id/lock", { onRequest: admin }, async (request, reply) => changeVisible(reply, request.params.id, (id) => registry.lock(id)));
  scope.put<IdParams>("/stream/:id/unlock", { onRequest: admin }, async (request, reply) =>
    changeVisible(reply, request.params.id, (id) => registry.unlock(id)),
  );
  scope.delete<IdParams>("/stream/:id", { onRequest: admin }, async (request, reply) =>
    changeVisible(
      reply,
      request.params.id,
      (id) => registry.delete(id),
      (rec) => ({ id: rec.id, state: rec.state }),
    ),
  );
}
