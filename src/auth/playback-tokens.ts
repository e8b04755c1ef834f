// The token service (issue 6): issue, verify (with a verified-token cache), revoke, JWKS. Composes
// the pure pieces (jws, splay) with the key set and the revocation list; the HTTP routes, the CLI
// and access control all go through it.
import { randomUUID } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { Config } from "../config/schema.js";
import type { ErrorCode } from "../errors.js";
import type { Jwks, KeySet } from "./keys.js";
import { KEEP_AFTER_EXPIRY_SEC, type RevocationList } from "./revocations.js";
import {
  checkClaimsTime,
  issueSplayToken,
  readSplayToken,
  verifySplay,
  type IssueRefusal,
  type SplayClaims,
  type SplayVerification,
  type VerifyContext,
} from "./splay.js";

export type TokenAuthConfig = Pick<Config["auth"], "issuer" | "acceptIssuers" | "leewaySeconds" | "maxTokenLength">;

export interface PlaybackTokensOptions {
  keys: KeySet;
  revocations: RevocationList;
  auth: TokenAuthConfig;
  /** Verified tokens remembered (default 100,000): a bound on memory, whatever clients send. */
  cacheMaxEntries?: number;
  /** Told every verification's outcome (null = valid) and whether the cache answered: for metrics. */
  onVerify?: (code: ErrorCode | null, cached: boolean) => void;
}

export type IssueResult = { ok: true; token: string; claims: SplayClaims } | IssueRefusal;

/**
 * Why a revoke is refused (docs/nanostream.md §2.2 lists nanoStream's answers; src/http/wire-codes.ts
 * gives each its code): not a well-signed token, another organisation's, not issued revocable, or
 * more than 24 h past its expiry.
 */
export type RevokeRefusal = "malformed" | "other_org" | "not_revocable" | "expired";

export type RevokeResult = { ok: true } | { ok: false; refusal: RevokeRefusal };

export const DEFAULT_CACHE_MAX_ENTRIES = 100_000;

const refused = (refusal: RevokeRefusal) => Object.freeze({ ok: false as const, refusal });
const MALFORMED = refused("malformed");
const OTHER_ORG = refused("other_org");
const NOT_REVOCABLE = refused("not_revocable");
const TOO_LATE = refused("expired");
const INVALID: SplayVerification = Object.freeze({ ok: false, code: "EDGE_ERR_TOKEN_INVALID" });

function freezeVerified(result: SplayVerification): SplayVerification {
  if (result.ok) {
    if (result.claims.streams) Object.freeze(result.claims.streams);
    Object.freeze(result.claims);
  }
  return Object.freeze(result);
}

export class PlaybackTokens {
  private readonly ctx: Omit<VerifyContext, "nowSec">;
  private readonly leewaySec: number;
  // Keyed by the exact token string — never a hash or a prefix, which two tokens could share.
  private readonly cache: LRUCache<string, SplayVerification & { ok: true }>;
  private readonly unsubscribe: () => void;

  constructor(private readonly opts: PlaybackTokensOptions) {
    const { auth, keys, revocations } = opts;
    this.leewaySec = auth.leewaySeconds;
    this.ctx = {
      keys: keys.verification,
      maxLength: auth.maxTokenLength,
      issuers: new Set([auth.issuer, ...auth.acceptIssuers]),
      leewaySec: auth.leewaySeconds,
      isRevoked: (jti) => revocations.has(jti),
    };
    this.cache = new LRUCache({ max: opts.cacheMaxEntries ?? DEFAULT_CACHE_MAX_ENTRIES });
    this.unsubscribe = revocations.onRevoke((jti) => this.forget(jti));
  }

  /** Signs a token for `org` from a `POST /api/v1/splay` body, or names the parameter refused. */
  issue(body: unknown, { org, nowSec }: { org: string; nowSec: number }): IssueResult {
    const signingKey = this.opts.keys.signing;
    if (signingKey === null) throw new Error("this key set can only verify: it has no signing key");
    const { issuer, maxTokenLength } = this.opts.auth;
    return issueSplayToken(body, { signingKey, issuer, org, jti: randomUUID(), nowSec, maxLength: maxTokenLength });
  }

  /**
   * Verifies signature, claims, revocation and time. A cached success is re-checked against
   * `nowSec` and the revocation list on every hit, so the cache can only save work, never extend a
   * token's life. Failures are not cached: only tokens signed by our keys take cache space.
   */
  verify(token: string, nowSec: number): SplayVerification {
    if (typeof token !== "string" || token.length > this.ctx.maxLength) return this.report(INVALID, false);
    const hit = this.cache.get(token);
    if (hit !== undefined) {
      if (!this.ctx.isRevoked(hit.claims.jti) && checkClaimsTime(hit.claims, nowSec, this.leewaySec) === null) {
        return this.report(hit, true);
      }
      this.cache.delete(token);
    }
    const result = freezeVerified(verifySplay(token, { ...this.ctx, nowSec }));
    if (result.ok) {
      // The entry's TTL ends with the token's validity: memory is given back without a hit.
      const remainingMs = (result.claims.exp + this.leewaySec - nowSec) * 1000;
      this.cache.set(token, result, { ttl: Math.max(1, Math.floor(remainingMs)) });
    }
    return this.report(result, false);
  }

  /**
   * nanoStream's revoke (docs/nanostream.md §2.2): only a well-signed token of this organisation that was
   * issued revocable, up to 24 h after its expiry. Revoking again is not an error (nothing changes).
   */
  revoke(token: string, { org, nowSec }: { org: string; nowSec: number }): RevokeResult {
    const checked = this.revocable(token, { org, nowSec });
    if (!checked.ok) return checked;
    this.opts.revocations.revoke(checked.jti, checked.exp);
    return { ok: true };
  }

  /** revoke()'s checks without recording: a fleet records the revocation through its change log (issue 12). */
  revocable(token: string, { org, nowSec }: { org: string; nowSec: number }): { ok: true; jti: string; exp: number } | Extract<RevokeResult, { ok: false }> {
    const claims = typeof token === "string" ? readSplayToken(token, this.ctx) : null;
    if (claims === null) return MALFORMED;
    if (claims.sub !== org) return OTHER_ORG;
    if (claims.revocable !== true) return NOT_REVOCABLE;
    if (nowSec >= claims.exp + KEEP_AFTER_EXPIRY_SEC) return TOO_LATE;
    return { ok: true, jti: claims.jti, exp: claims.exp };
  }

  /** Told the jti of each new revocation (wherever it came from): end the sessions that use it. */
  onRevoke(listener: (jti: string) => void): () => void {
    return this.opts.revocations.onRevoke(listener);
  }

  jwks(): Jwks {
    return this.opts.keys.jwks();
  }

  /** Forgets every verified token: a verification key went or changed (a fleet key rotated out, issue 12). */
  forgetVerified(): void {
    this.cache.clear();
  }

  /** Stops following the revocation list; the revocation list itself belongs to the caller. */
  close(): void {
    this.unsubscribe();
    this.cache.clear();
  }

  private report(result: SplayVerification, cached: boolean): SplayVerification {
    this.opts.onVerify?.(result.ok ? null : result.code, cached);
    return result;
  }

  /**
   * Drops the cached entries of a revoked jti. A scan, not an index: revocations are rare admin
   * actions, and the per-hit revocation check above already refuses the token without this.
   */
  private forget(jti: string): void {
    const tokens: string[] = [];
    for (const [token, entry] of this.cache.entries()) if (entry.claims.jti === jti) tokens.push(token);
    for (const token of tokens) this.cache.delete(token);
  }
}
