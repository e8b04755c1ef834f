// nanoStream "splay" playback tokens (docs/nanostream.md §2.2): what an issue request may ask for, what a
// verified token must claim, and whether it covers one play. Pure: keys, clock, revocation set and
// the jti are passed in; nothing here throws on what a client sent.
import { normalizeIp } from "../primitives/client-ip.js";
import { hostNameProblem, pageHost } from "../primitives/domain.js";
import type { ErrorCode } from "../errors.js";
import { signJws, verifyJws, type JsonObject, type JwsKey } from "./jws.js";

export const SPLAY_AUDIENCE = "splay";
/** docs/nanostream.md §2.2: revocable tokens live at most 24 h, all others at most 365 days. */
export const MAX_LIFETIME_REVOCABLE_SEC = 24 * 3600;
export const MAX_LIFETIME_SEC = 365 * 24 * 3600;

/** Exactly one scope (docs/nanostream.md §2.2): named streams, one stream group, or the whole organisation. */
export type SplayScope =
  | { streams: string[]; groupid?: never; orgawide?: never }
  | { groupid: string; streams?: never; orgawide?: never }
  | { orgawide: true; streams?: never; groupid?: never };

/** What an issue request asks for, checked: the claims minus those the issuer adds. */
export type SplayFields = SplayScope & {
  nbf?: number;
  exp: number;
  domain?: string;
  ip?: string;
  tag?: string;
  user?: string;
  revocable?: boolean;
  forceDisconnect?: boolean;
};

export type SplayClaims = SplayFields & {
  aud: string | string[];
  iss: string;
  /** The organisation that issued the token (docs/nanostream.md §2.2 [INF]: `sub` = organisation). */
  sub: string;
  iat: number;
  jti: string;
};

/** An issue request refused: `parameter` names the field and what it must be ("exp (unix seconds)"). */
export interface IssueRefusal {
  ok: false;
  refusal: "bad_parameter";
  parameter: string;
}

const refuse = (parameter: string): IssueRefusal => ({ ok: false, refusal: "bad_parameter", parameter });

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isUnixSeconds = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");
const isOptional = (v: unknown, test: (v: unknown) => boolean) => v === undefined || test(v);
const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";
const isString = (v: unknown): v is string => typeof v === "string";

// docs/nanostream.md §2.2: the ip binding is IPv4 only. Dotted quad, no leading zeros (not octal).
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
// docs/nanostream.md §2.4 (the rule nanoStream documents for bound domains): a bare name, labels of 1-63
// characters a-z 0-9 -, at most 253 in all, a last label that is not all digits (so no IP address)
// — the host-name rule of Guardian referrer rules too (src/primitives/domain.ts).
const isDomain = (v: unknown) => isString(v) && hostNameProblem(v.toLowerCase()) === null;

const OPTIONAL_FIELDS = [
  ["tag", isString, "tag (a string)"],
  ["user", isString, "user (a string)"],
  ["revocable", isBoolean, "revocable (true or false)"],
  ["forceDisconnect", isBoolean, "forceDisconnect (true or false)"],
] as const;

function checkScope(body: JsonObject): SplayScope | IssueRefusal {
  const { streams, groupid, orgawide } = body;
  const given = [streams, groupid, orgawide].filter((v) => v !== undefined).length;
  if (given !== 1) return refuse("exactly one of streams, groupid, orgawide");
  if (streams !== undefined) {
    const ok = isStringArray(streams) && streams.length > 0 && streams.every((s) => s !== "");
    return ok ? { streams: [...streams] } : refuse("streams (a non-empty array of stream names)");
  }
  if (groupid !== undefined) return isString(groupid) && groupid !== "" ? { groupid } : refuse("groupid (a non-empty string)");
  return orgawide === true ? { orgawide: true } : refuse("orgawide (true)");
}

/**
 * Checks a `POST /api/v1/splay` body (docs/nanostream.md §2.2). Unknown fields are ignored and never
 * copied into the token, so a client written for nanoStream (which also lists `cust`) keeps working.
 * Present fields must have their type (`null` is not "absent"). Lifetimes count from now: `exp` in
 * the future and at most 24 h (revocable) or 365 days ahead; `nbf`, if given, not after `exp`.
 */
export function validateIssueRequest(body: unknown, nowSec: number): { ok: true; fields: SplayFields } | IssueRefusal {
  if (!isObject(body)) return refuse("a JSON object body");
  const scope = checkScope(body);
  if ("ok" in scope) return scope;
  const { exp, nbf, ip, domain, revocable } = body;
  for (const [name, test, expected] of OPTIONAL_FIELDS) if (!isOptional(body[name], test)) return refuse(expected);
  if (!isUnixSeconds(exp)) return refuse("exp (unix seconds)");
  if (exp <= nowSec) return refuse("exp (in the future)");
  const maxLifetime = revocable === true ? MAX_LIFETIME_REVOCABLE_SEC : MAX_LIFETIME_SEC;
  if (exp - nowSec > maxLifetime) return refuse(revocable === true ? "exp (at most 24 h ahead for a revocable token)" : "exp (at most 365 days ahead)");
  if (!isOptional(nbf, isUnixSeconds) || (nbf as number) > exp) return refuse("nbf (unix seconds, not after exp)");
  if (!isOptional(ip, (v) => isString(v) && IPV4.test(v))) return refuse("ip (an IPv4 address)");
  if (!isOptional(domain, isDomain)) return refuse("domain (a bare domain name such as example.com)");

  const fields: SplayFields = { ...scope, exp };
  if (nbf !== undefined) fields.nbf = nbf as number;
  if (domain !== undefined) fields.domain = (domain as string).toLowerCase();
  if (ip !== undefined) fields.ip = ip as string;
  for (const [name] of OPTIONAL_FIELDS) if (body[name] !== undefined) Object.assign(fields, { [name]: body[name] });
  return { ok: true, fields };
}

export interface IssueContext {
  signingKey: JwsKey;
  issuer: string;
  /** The organisation, written to `sub`. */
  org: string;
  jti: string;
  nowSec: number;
  /** A token this edge itself would refuse as too long is not issued (`auth.maxTokenLength`). */
  maxLength: number;
}

export function issueSplayToken(body: unknown, ctx: IssueContext): { ok: true; token: string; claims: SplayClaims } | IssueRefusal {
  const checked = validateIssueRequest(body, ctx.nowSec);
  if (!checked.ok) return checked;
  const claims: SplayClaims = { aud: SPLAY_AUDIENCE, iss: ctx.issuer, sub: ctx.org, iat: ctx.nowSec, jti: ctx.jti, ...checked.fields };
  const token = signJws({ typ: "JWT" }, claims, ctx.signingKey);
  if (token.length > ctx.maxLength) return refuse(`fewer or shorter values (the token would exceed ${ctx.maxLength} characters)`);
  return { ok: true, token, claims };
}

function hasAudience(aud: unknown): boolean {
  return aud === SPLAY_AUDIENCE || (isStringArray(aud) && aud.includes(SPLAY_AUDIENCE));
}

/** Exactly one well-typed scope, as validateIssueRequest would have produced. */
function hasOneScope(p: JsonObject): boolean {
  const scopes = [p.streams !== undefined, p.groupid !== undefined, p.orgawide !== undefined].filter(Boolean).length;
  return scopes === 1 && isOptional(p.streams, isStringArray) && isOptional(p.groupid, isString) && isOptional(p.orgawide, (v) => v === true);
}

function areClaims(p: JsonObject, issuers: ReadonlySet<string>): p is SplayClaims {
  return (
    hasAudience(p.aud) &&
    isString(p.iss) &&
    issuers.has(p.iss) &&
    isString(p.sub) &&
    isString(p.jti) &&
    p.jti !== "" &&
    isNumber(p.iat) &&
    isNumber(p.exp) &&
    isOptional(p.nbf, isNumber) &&
    hasOneScope(p) &&
    isOptional(p.domain, isString) &&
    isOptional(p.ip, isString) &&
    OPTIONAL_FIELDS.every(([name, test]) => isOptional(p[name], test))
  );
}

export interface ReadContext {
  keys: ReadonlyMap<string, JwsKey>;
  maxLength: number;
  issuers: ReadonlySet<string>;
}

/**
 * Signature, audience, issuer and claim types — no clock, no revocation (revoke needs exactly this).
 * Claims this edge does not know are ignored (RFC 7519 §4).
 */
export function readSplayToken(token: string, ctx: ReadContext): SplayClaims | null {
  const jws = verifyJws(token, ctx.keys, ctx.maxLength);
  return jws.ok && areClaims(jws.payload, ctx.issuers) ? jws.payload : null;
}

/**
 * `exp` and `nbf` with leeway (RFC 7519 §4.1.4/§4.1.5: valid while now < exp, from nbf on). A token
 * not yet valid counts as expired (one code for "outside its validity"). An `exp` further ahead than
 * any issuer may sign (docs/nanostream.md §2.2 lifetimes) is refused as invalid: a leaked token of a
 * careless accepted issuer must not work for years (docs/reliability.md §2).
 */
export function checkClaimsTime(claims: SplayClaims, nowSec: number, leewaySec: number): ErrorCode | null {
  if (nowSec >= claims.exp + leewaySec) return "EDGE_ERR_TOKEN_EXPIRED";
  if (claims.nbf !== undefined && nowSec < claims.nbf - leewaySec) return "EDGE_ERR_TOKEN_EXPIRED";
  const maxLifetime = claims.revocable === true ? MAX_LIFETIME_REVOCABLE_SEC : MAX_LIFETIME_SEC;
  return claims.exp - nowSec > maxLifetime + leewaySec ? "EDGE_ERR_TOKEN_INVALID" : null;
}

export interface VerifyContext extends ReadContext {
  nowSec: number;
  leewaySec: number;
  isRevoked(jti: string): boolean;
}

export type SplayVerification = { ok: true; claims: SplayClaims } | { ok: false; code: ErrorCode };

export function verifySplay(token: string, ctx: VerifyContext): SplayVerification {
  const claims = readSplayToken(token, ctx);
  if (claims === null) return { ok: false, code: "EDGE_ERR_TOKEN_INVALID" };
  if (ctx.isRevoked(claims.jti)) return { ok: false, code: "EDGE_ERR_TOKEN_REVOKED" };
  const code = checkClaimsTime(claims, ctx.nowSec, ctx.leewaySec);
  return code === null ? { ok: true, claims } : { ok: false, code };
}

export interface PlayContext {
  stream: string;
  /** The stream's id; bintu's group id of a single stream is its own id (no groups in the registry yet). */
  streamId: string;
  org: string;
  ip: string;
  referer?: string;
  origin?: string;
}

/**
 * Whether a verified token covers this play; null = yes. Order: scope, ip, domain. The domain
 * binding is matched against the Referer host, else the Origin host (pageHost, the Guardian's
 * reading: a bare `app.example.com` is that host; a present Referer is never replaced by Origin): equal to the bound domain or a
 * subdomain of it (label-aligned: `example.com` covers `www.example.com`, never `badexample.com`).
 * No Referer/Origin means no proof of the domain: refused. Referer is friction, not authentication
 * (docs/reliability.md §2) — anyone can send one; an ip binding is the strong one.
 */
export function checkPlayClaims(claims: SplayClaims, play: PlayContext): ErrorCode | null {
  const inScope =
    claims.streams !== undefined
      ? claims.streams.includes(play.stream)
      : claims.groupid !== undefined
        ? claims.groupid === play.streamId
        : claims.sub === play.org;
  if (!inScope) return "EDGE_ERR_TOKEN_SCOPE";
  if (claims.ip !== undefined && normalizeIp(play.ip) !== claims.ip) return "EDGE_ERR_TOKEN_IP";
  if (claims.domain !== undefined) {
    const host = pageHost(play.referer, play.origin);
    const domain = claims.domain.toLowerCase();
    if (host === undefined || (host !== domain && !host.endsWith("." + domain))) return "EDGE_ERR_TOKEN_DOMAIN";
  }
  return null;
}
