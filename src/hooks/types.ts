// What every hook translator hands the route and gets back (docs/hooks.md §5). A translator is
// pure: a foreign server's payload in, one of these calls out; a decision in, the exact answer
// bytes and status that server needs out. The route does the rest (caller check, the decision,
// the session bookkeeping), the same for all four servers.
import type { AccessRequest, Decision } from "../access/access.js";
import type { ErrorCode } from "../errors.js";
import { normalizeIp } from "../primitives/client-ip.js";
import { APP_NAME, STREAM_NAME, type NameRefusal, type Query } from "../primitives/stream-key.js";

// In the shared leaf since every play's query is parsed with it too (src/primitives/stream-key.ts).
export { formPairs } from "../primitives/form-pairs.js";

export type HookServer = "nginx-rtmp" | "srs" | "mediamtx" | "ome";

/** A running session on the foreign server, as the hook names it. */
export interface HookSession {
  /** Unique per server: the edge's session id (`GET /v1/sessions`). */
  readonly id: string;
  readonly role: "publisher" | "player";
  /** The protocol the foreign server named (lower case). */
  readonly protocol: string;
  /** What the server's kick needs (nginx-rtmp: its clientid). */
  readonly clientId: string;
}

export type HookCall =
  /** A new publish or play: decide. `session` absent = decide only, no end notice will come (MediaMTX). */
  | { readonly kind: "decide"; readonly request: AccessRequest; readonly session?: HookSession }
  /** A running session asks again (nginx-rtmp on_update): refused if the edge ended it, else re-decided. */
  | { readonly kind: "update"; readonly request: AccessRequest; readonly session: HookSession }
  /** Sessions that ended on the foreign server. */
  | { readonly kind: "done"; readonly sessionIds: readonly string[] }
  /** Answered "allow" with nothing to decide (connect, a local relay, a recording notice). */
  | { readonly kind: "pass" }
  /** The payload itself is refused: malformed, or an action the edge does not decide. */
  | { readonly kind: "refuse"; readonly code: ErrorCode; readonly detail?: string };

/** The exact HTTP answer: status, content type (absent = no body) and body bytes. */
export interface HookAnswer {
  readonly status: number;
  readonly contentType?: string;
  readonly body: string;
}

/** What the route concluded: allowed (with the token's expiry, for OvenMediaEngine's `lifetime`) or refused. */
export type Verdict = { readonly allow: true; readonly tokenExpMs?: number } | { readonly allow: false; readonly code: ErrorCode; readonly detail?: string };

/** A decision as a verdict. */
export const verdictOf = (d: Decision): Verdict =>
  d.allow ? { allow: true, tokenExpMs: d.token ? d.token.exp * 1000 : undefined } : { allow: false, code: d.code };

/** A JSON object body, or null: a hook payload that is not one is malformed (never a 5xx). */
export function jsonObject(raw: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A string field of a JSON payload: absent or null = "", anything else not a string = null (malformed). */
export function str(o: Record<string, unknown>, key: string): string | null {
  const v = o[key];
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : null;
}

export const refuse = (code: ErrorCode, detail?: string): HookCall => ({ kind: "refuse", code, detail });

export const JSON_TYPE = "application/json; charset=utf-8";

/** The one AccessRequest of a hook: app and name checked with the edge's own rules (src/primitives/stream-key.ts). */
export function hookRequest(
  action: "publish" | "play",
  where: { app: string; name: string; query: Query; ip: string; referer?: string; clientId?: string; tcUrl?: string },
): AccessRequest | NameRefusal {
  if (!APP_NAME.test(where.app)) return "EDGE_ERR_BAD_APP";
  if (!STREAM_NAME.test(where.name)) return "EDGE_ERR_BAD_NAME";
  const { referer, clientId, tcUrl } = where;
  return {
    action,
    protocol: "hook",
    media: "elsewhere",
    app: where.app,
    name: where.name,
    query: where.query,
    ip: normalizeIp(where.ip),
    ...(referer ? { referer } : {}),
    ...(clientId ? { clientId } : {}),
    ...(tcUrl ? { tcUrl } : {}),
  };
}

/** Key/value pairs as a query, the first occurrence of a key winning. */
export function firstWins(
  pairs: Iterable<[string, string]>,
  into: Record<string, string> = Object.create(null) as Record<string, string>,
): Record<string, string> {
  for (const [k, v] of pairs) if (!(k in into)) into[k] = v;
  return into;
}

/** The refusals of a payload itself keep their own 4xx; every other refusal is the server's "deny". Never a 5xx. */
const PAYLOAD_STATUS: Partial<Record<ErrorCode, number>> = {
  EDGE_ERR_BAD_REQUEST: 400,
  EDGE_ERR_HOOK_SECRET: 401,
  EDGE_ERR_HOOK_CALLER: 403,
  EDGE_ERR_HOOK_ACTION: 403,
  EDGE_ERR_BODY_TOO_LARGE: 413,
  EDGE_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
};
export const payloadStatus = (code: ErrorCode): number | undefined => PAYLOAD_STATUS[code];
