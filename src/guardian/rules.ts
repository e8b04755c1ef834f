// The Guardian rule model (issue 5 §1) and the one validator for rules from the API and from the
// rules file. Bodies take nanoStream's shapes — `{ip, type, tag}`, `{domain, info, type}` — plus
// ours: `{country, type}`, `actions`, a stream or tag scope, an expiry and a mode. Unknown fields
// are refused: a typo such as `"stram"` would otherwise widen a rule to the whole organisation.
import { STREAM_NAME } from "../primitives/stream-key.js";
import { COUNTRY_CODES } from "./countries.js";
import { normaliseDomain } from "../primitives/domain.js";
import { parseNetwork } from "../primitives/ip.js";

export type RuleKind = "ip" | "referer" | "country";
export type RuleType = "deny" | "allow";
export type RuleAction = "play" | "publish";
export type RuleMode = "enforce" | "report";
export type RuleSource = "api" | "file";

export const RULE_KINDS: readonly RuleKind[] = ["ip", "referer", "country"];

/** Neither field = the whole organisation (nanoStream's only scope). */
export interface RuleScope {
  readonly stream?: string;
  readonly tag?: string;
}

export interface Rule {
  readonly id: string;
  readonly kind: RuleKind;
  /** ip: `a.b.c.d[/n]` or RFC 5952 IPv6[/n]; referer: `example.com`, `*.example.com` or `*`; country: `DE` or `*`. */
  readonly value: string;
  readonly type: RuleType;
  readonly actions: readonly RuleAction[];
  readonly scope: RuleScope;
  /** ms since the epoch; the rule matches while now < expiresAt. Absent = never expires. */
  readonly expiresAt?: number;
  readonly info?: string;
  /** nanoStream's free-text label on IP rules (e.g. the reason); not a scope. */
  readonly tag?: string;
  readonly mode: RuleMode;
  /** Adding it also ends the running sessions it refuses, even without guardian.enforceOnActive (issue 16 §5). */
  readonly enforceOnActive?: boolean;
  readonly createdAt: number;
  readonly source: RuleSource;
}

/**
 * A validated rule before it has an id and a creation time. `expiresAt: null` = explicitly never
 * (`ttlSeconds: 0`); `undefined` = the source's default (the store's `ipRuleTtlMs` for IP rules).
 */
export interface RuleDraft {
  readonly kind: RuleKind;
  readonly value: string;
  readonly type: RuleType;
  readonly actions: readonly RuleAction[];
  readonly scope: RuleScope;
  readonly expiresAt?: number | null;
  readonly info?: string;
  readonly tag?: string;
  readonly mode: RuleMode;
  readonly enforceOnActive?: boolean;
  /** Rules file only: a stable id chosen by the file's author. */
  readonly id?: string;
}

/**
 * Why a body was refused: a `missing` field or an `invalid` one, naming the field. The API answers
 * it in its envelope (src/http/wire-codes.ts), the rules file as `path:line: message`.
 */
export type RuleProblem = "missing" | "invalid";

export class RuleValidationError extends Error {
  constructor(
    readonly problem: RuleProblem,
    readonly field: string,
    readonly reason: string,
  ) {
    super(problem === "missing" ? `${field} is required` : `${field}: ${reason}`);
  }
}

export const VALUE_FIELD: Record<RuleKind, string> = { ip: "ip", referer: "domain", country: "country" };

const COMMON_FIELDS = ["type", "info", "tag", "actions", "stream", "tagScope", "scope", "expiresAt", "ttlSeconds", "mode"];
/** API only: the rules file is reloaded whole, so which of its rules an edit "added" is not known. */
const API_FIELDS = ["enforceOnActive"];
const FILE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_TTL_SECONDS = 10 * 365 * 86_400;
const MAX_TEXT = 1024;

export interface ParseContext {
  readonly source: RuleSource;
  readonly nowMs: number;
}

type Body = Record<string, unknown>;

const wrong = (field: string, reason: string) => new RuleValidationError("invalid", field, reason);

function optionalString(body: Body, field: string, max: number): string | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.length === 0 || v.length > max) throw wrong(field, `a string of 1-${max} characters`);
  return v;
}

function requiredString(body: Body, field: string): string {
  if (body[field] === undefined || body[field] === null) throw new RuleValidationError("missing", field, "required");
  const v = optionalString(body, field, 4096);
  return v as string;
}

function parseValue(kind: RuleKind, raw: string): string {
  const field = VALUE_FIELD[kind];
  if (kind === "ip") {
    const r = parseNetwork(raw);
    if (!r.ok) throw wrong(field, r.reason);
    return r.text;
  }
  if (kind === "referer") {
    const r = normaliseDomain(raw);
    if (!r.ok) throw wrong(field, r.reason);
    return r.value;
  }
  const code = raw.toUpperCase();
  if (code !== "*" && !COUNTRY_CODES.has(code)) throw wrong(field, "not an ISO 3166-1 alpha-2 country code (or `*`)");
  return code;
}

function parseActions(v: unknown): RuleAction[] {
  if (v === undefined) return ["play"];
  if (!Array.isArray(v) || v.length === 0 || v.some((a) => a !== "play" && a !== "publish")) {
    throw wrong("actions", 'a non-empty list of "play" and "publish"');
  }
  return v.includes("play") && v.includes("publish") ? ["play", "publish"] : [v[0] as RuleAction];
}

function parseScope(body: Body): RuleScope {
  const nested = body.scope;
  if (nested !== undefined && (typeof nested !== "object" || nested === null || Array.isArray(nested))) {
    throw wrong("scope", "an object {stream} or {tag}");
  }
  const n = (nested ?? {}) as Body;
  for (const key of Object.keys(n)) if (key !== "stream" && key !== "tag") throw wrong(`scope.${key}`, "unknown field");
  const stream = optionalString(n, "stream", 128) ?? optionalString(body, "stream", 128);
  const tag = optionalString(n, "tag", 128) ?? optionalString(body, "tagScope", 128);
  const given = [n.stream, body.stream, n.tag, body.tagScope].filter((x) => x !== undefined).length;
  if (given > 1) throw wrong("scope", "name one stream or one tag, not several");
  if (stream !== undefined && !STREAM_NAME.test(stream)) throw wrong("stream", "not a valid stream name");
  return stream !== undefined ? { stream } : tag !== undefined ? { tag } : {};
}

function parseExpiry(body: Body, ctx: ParseContext): number | null | undefined {
  const { expiresAt, ttlSeconds } = body;
  if (expiresAt !== undefined && ttlSeconds !== undefined) throw wrong("expiresAt", "give expiresAt or ttlSeconds, not both");
  if (ttlSeconds !== undefined) {
    // Relative to what, on every reload? A file states absolute times.
    if (ctx.source === "file") throw wrong("ttlSeconds", "the rules file takes an absolute expiresAt");
    if (!Number.isInteger(ttlSeconds) || (ttlSeconds as number) < 0 || (ttlSeconds as number) > MAX_TTL_SECONDS) {
      throw wrong("ttlSeconds", `an integer 0-${MAX_TTL_SECONDS} (0 = never expires)`);
    }
    return ttlSeconds === 0 ? null : ctx.nowMs + (ttlSeconds as number) * 1000;
  }
  if (expiresAt === undefined) return undefined;
  let at: number;
  if (typeof expiresAt === "number" && Number.isSafeInteger(expiresAt)) at = expiresAt;
  else if (typeof expiresAt === "string" && /^\d{4}-\d{2}-\d{2}T/.test(expiresAt)) at = Date.parse(expiresAt);
  else if (expiresAt instanceof Date)
    at = expiresAt.getTime(); // YAML timestamps
  else throw wrong("expiresAt", "ms since the epoch or an ISO 8601 date-time");
  if (!Number.isFinite(at)) throw wrong("expiresAt", "not a valid date-time");
  if (at <= ctx.nowMs) throw wrong("expiresAt", "already in the past");
  return at;
}

function oneOf<T extends string>(body: Body, field: string, allowed: readonly T[], def?: T): T {
  const v = body[field];
  if (v === undefined && def !== undefined) return def;
  if (v === undefined || v === null) throw new RuleValidationError("missing", field, "required");
  if (!allowed.includes(v as T)) throw wrong(field, `one of ${allowed.map((a) => `"${a}"`).join(", ")}`);
  return v as T;
}

/** Validates and normalises one rule body of a known kind. Throws RuleValidationError. */
export function parseRule(kind: RuleKind, input: unknown, ctx: ParseContext): RuleDraft {
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw wrong("body", "a JSON object");
  const body = input as Body;
  const allowed = new Set([VALUE_FIELD[kind], ...COMMON_FIELDS, ...(ctx.source === "file" ? ["id"] : API_FIELDS)]);
  for (const key of Object.keys(body)) if (!allowed.has(key)) throw wrong(key, "unknown field");
  const value = parseValue(kind, requiredString(body, VALUE_FIELD[kind]));
  const id = optionalString(body, "id", 64);
  if (id !== undefined && !FILE_ID.test(id)) throw wrong("id", "1-64 of A-Z a-z 0-9 . _ -");
  const expiresAt = parseExpiry(body, ctx);
  if (body.enforceOnActive !== undefined && typeof body.enforceOnActive !== "boolean") throw wrong("enforceOnActive", "true or false");
  return {
    kind,
    value,
    type: oneOf(body, "type", ["deny", "allow"] as const),
    actions: parseActions(body.actions),
    scope: parseScope(body),
    mode: oneOf(body, "mode", ["enforce", "report"] as const, "enforce"),
    ...(expiresAt !== undefined && { expiresAt }),
    ...(body.info !== undefined && { info: optionalString(body, "info", MAX_TEXT) }),
    ...(body.tag !== undefined && { tag: optionalString(body, "tag", MAX_TEXT) }),
    ...(id !== undefined && { id }),
    ...(body.enforceOnActive === true && { enforceOnActive: true }),
  };
}

/** A rules-file entry names its kind by its value field: `ip:`, `domain:` or `country:`. */
export function kindOfEntry(entry: unknown): RuleKind {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw wrong("rule", "a mapping");
  const kinds = RULE_KINDS.filter((k) => VALUE_FIELD[k] in entry);
  if (kinds.length !== 1) throw wrong("rule", "exactly one of ip, domain, country names the kind");
  return kinds[0];
}
