// Short handles for playback tokens (docs/hooks.md §6). nginx-rtmp cuts a play's `name?args` and
// its tcUrl at 255 bytes, so a full-size JWT never reaches its hook whole. A holder of a valid
// token trades it for a 22-character handle (`?jwh=…`); every hook call resolves the handle back
// to the full token, which is verified again on every decision (expiry, revocation, scope), so a
// handle grants nothing its token does not. Pure: a Map and node:crypto's hash.
import { createHash } from "node:crypto";
import type { TokenCheck } from "../access/ports.js";
import type { ErrorCode } from "../errors.js";

/** Handles kept at most (memory bound); past it expired ones go first, then the oldest. */
export const MAX_HANDLES = 100_000;

export type HandleResult = { ok: true; handle: string; expiresAt: number } | { ok: false; code: ErrorCode };

export class TokenHandles {
  private readonly handles = new Map<string, { token: string; expMs: number }>();

  constructor(
    private readonly tokens: TokenCheck,
    private readonly max = MAX_HANDLES,
  ) {}

  /**
   * The handle of a valid token: a hash of it, so the same token always gets the same handle and
   * the table holds one entry per token. 126 bits of SHA-256: not guessable, not a token itself.
   */
  issue(token: string, nowMs: number): HandleResult {
    const verified = this.tokens.verify(token, Math.floor(nowMs / 1000));
    if (!verified.ok) return { ok: false, code: verified.code };
    const handle = "h" + createHash("sha256").update(token).digest("base64url").slice(0, 21);
    const expMs = verified.claims.exp * 1000;
    if (!this.handles.has(handle) && this.handles.size >= this.max) this.evict(nowMs);
    this.handles.set(handle, { token, expMs });
    return { ok: true, handle, expiresAt: expMs };
  }

  /** The full token of a handle, or undefined (unknown or expired: the play then has no token). */
  resolve(handle: string, nowMs: number): string | undefined {
    const entry = this.handles.get(handle);
    if (!entry) return undefined;
    if (entry.expMs <= nowMs) {
      this.handles.delete(handle);
      return undefined;
    }
    return entry.token;
  }

  get size(): number {
    return this.handles.size;
  }

  private evict(nowMs: number): void {
    for (const [h, e] of this.handles) if (e.expMs <= nowMs) this.handles.delete(h);
    if (this.handles.size >= this.max) this.handles.delete(this.handles.keys().next().value as string);
  }
}
