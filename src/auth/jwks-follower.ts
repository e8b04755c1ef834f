// A fleet verifies each other's tokens offline (issue 6 §2): every URL in `auth.jwksUrls` is
// fetched at start and every `auth.jwksRefreshMs`, and its keys join this edge's verification map.
// A failed fetch keeps the keys from the last good one and is logged; it never stops the edge.
import type { Logger } from "../log.js";
import type { JwsKey } from "./jws.js";
import { keySetFromJwks, type KeySet } from "./keys.js";
import { readCapped } from "../util/read-capped.js";

const FETCH_TIMEOUT_MS = 5_000;
const MAX_JWKS_BYTES = 256 * 1024;

export class JwksFollower {
  /** This edge's keys plus every followed edge's, by kid; the map PlaybackTokens verifies with. */
  readonly keys: KeySet;
  private readonly verification: Map<string, JwsKey>;
  private readonly remote = new Map<string, ReadonlyMap<string, JwsKey>>();
  /** Keys other edges of a fleet announced (issue 12): no jwksUrls needed. */
  private readonly fleet = new Map<string, JwsKey>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly local: KeySet,
    private readonly urls: readonly string[],
    private readonly refreshMs: number,
    private readonly log: Logger,
    /** Trusts tls.caFile besides the system store (issue 15); default the global fetch. */
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    this.verification = new Map(local.verification);
    this.keys = { signing: local.signing, verification: this.verification, jwks: () => local.jwks() };
  }

  /** First fetch of every URL (failures logged); then refreshes on a timer. */
  async start(): Promise<void> {
    await this.refresh();
    if (this.urls.length > 0) this.timer = setInterval(() => void this.refresh(), this.refreshMs).unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /**
   * A fleet edge's public key (a JWK) arrived, or went (null). A JWK this edge cannot verify with is
   * logged and skipped. Local kids still win. Returns whether a fleet key of that kid was known before
   * (then tokens verified with it may sit in a verified-token cache).
   */
  setFleetKey(kid: string, jwk: unknown): boolean {
    const known = this.fleet.delete(kid);
    if (jwk !== null) {
      try {
        const key = keySetFromJwks({ keys: [jwk] }).verification.get(kid);
        if (key) this.fleet.set(kid, key);
      } catch (err) {
        this.log.warn("fleet key refused", { kid, detail: (err as Error).message });
      }
    }
    this.rebuild();
    return known;
  }

  private async refresh(): Promise<void> {
    await Promise.all(this.urls.map((url) => this.fetchOne(url)));
    this.rebuild();
  }

  private rebuild(): void {
    this.verification.clear();
    for (const [kid, key] of this.local.verification) this.verification.set(kid, key);
    // A followed edge cannot replace a local key: local kids win.
    for (const keys of [...this.remote.values(), this.fleet]) for (const [kid, key] of keys) if (!this.verification.has(kid)) this.verification.set(kid, key);
  }

  private async fetchOne(url: string): Promise<void> {
    try {
      const res = await this.fetchFn(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: "error" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = await readCapped(res, MAX_JWKS_BYTES);
      this.remote.set(url, keySetFromJwks(JSON.parse(body)).verification);
    } catch (err) {
      this.log.warn("jwks fetch failed; keeping the last good keys", { url, detail: (err as Error).message });
    }
  }
}
