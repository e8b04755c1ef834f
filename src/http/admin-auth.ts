import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import { sendAdminRefusal, type RouteFamily } from "./wire-codes.js";

/** bintu's roles (docs/nanostream.md §6). */
export type Role = "nanoAdmin" | "nanoUser" | "nanoReadOnly";

const ROLE_RANK: Record<Role, number> = { nanoAdmin: 3, nanoUser: 2, nanoReadOnly: 1 };

const API_KEY_HEADER = "x-bintu-apikey";

/**
 * A fastify hook that lets the request through or answers 401/403 in the envelope of the family of
 * routes it guards. Its shape fits both `onRequest` and `preHandler`.
 */
export type RoleGuard = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/** Who a key is: the organisation key (`org`) or a person's key by its id (src/http/people-keys.ts). */
export interface Identity {
  readonly role: Role;
  readonly keyId: string;
}

export interface AdminAuth {
  authenticate(headers: IncomingHttpHeaders): Role | null;
}

/** An AdminAuth that also says which key it was: the dashboard's live updates end with the key. */
export interface IdentifyingAuth extends AdminAuth {
  identify(headers: IncomingHttpHeaders): Identity | null;
}

/** Where people's keys are looked up (src/http/people-keys.ts). */
export interface PersonKeyLookup {
  lookup(presented: string): { id: string; role: Role } | null;
}

export function hasRole(role: Role, min: Role): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[min];
}

/** HTTP header names are case-insensitive; Node lowercases them, a hand-built object may not. */
function headerValue(headers: IncomingHttpHeaders, lowerCaseName: string): string | undefined {
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() !== lowerCaseName) continue;
    // Node joins a repeated header into one string, which then fails to match; an array from
    // a hand-built object is refused the same way rather than picking one of its values.
    return typeof value === "string" ? value : undefined;
  }
  return undefined;
}

export function createAdminAuth({ apiKey, people }: { apiKey: string; people?: PersonKeyLookup }): IdentifyingAuth {
  if (apiKey === "") throw new Error("admin API key must not be empty");
  // Comparing HMACs under a per-process key keeps the comparison constant-time whatever the
  // lengths: both digests are 32 bytes, so timingSafeEqual never throws and leaks no length.
  const hmacKey = randomBytes(32);
  const digest = (value: string) => createHmac("sha256", hmacKey).update(value).digest();
  const expectedDigest = digest(apiKey);

  function identify(headers: IncomingHttpHeaders): Identity | null {
    // X-BINTU-TOKEN user tokens (temporary, scoped to a user's role; docs/nanostream.md §1.1)
    // plug in here as a further credential source once something issues them. The organisation
    // API key grants nanoAdmin; people's keys (issue 16 §8) grant the role they were made with.
    const presented = headerValue(headers, API_KEY_HEADER);
    if (presented === undefined) return null;
    if (timingSafeEqual(digest(presented), expectedDigest)) return { role: "nanoAdmin", keyId: "org" };
    const person = people?.lookup(presented);
    return person ? { role: person.role, keyId: person.id } : null;
  }

  return { identify, authenticate: (headers) => identify(headers)?.role ?? null };
}

/**
 * The admin-key check of every guarded route on the API port. `family` is the family of the route
 * it guards, and picks the envelope of the refusal (src/http/wire-codes.ts): a bintu client gets
 * bintu's 4002, a token-service client nanoStream's 1001, an edge route `EDGE_ERR_UNAUTHORIZED`.
 */
export function requireRole(auth: AdminAuth, min: Role, family: RouteFamily): RoleGuard {
  return async (request, reply) => {
    const role = auth.authenticate(request.headers);
    if (role === null) return sendAdminRefusal(reply, family, "unauthenticated");
    if (!hasRole(role, min)) return sendAdminRefusal(reply, family, "forbidden");
    return undefined;
  };
}
