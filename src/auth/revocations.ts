// Revoked token ids (jti), persisted so a revocation survives restarts (issue 6 "Live effect";
// docs/nanostream.md §2.2: a revocation cannot be undone). Reads on the play path hit an in-memory Set;
// SQLite is written once per revocation.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";

/** What token verification needs of a revocation list; a fleet's shared list (src/cluster) fits it too. */
export interface RevocationList {
  has(jti: string): boolean;
  /** Records a revocation; false if the jti was revoked already (nothing changes, nobody is told). */
  revoke(jti: string, exp: number): boolean;
  /** Called once per new revocation, after it is stored. Returns the unsubscribe function. */
  onRevoke(listener: (jti: string) => void): () => void;
}

/**
 * A revoked token is refused anyway once `exp` has passed, but nanoStream lets an expired token be
 * revoked for 24 h after its expiry (docs/nanostream.md §2.2), so an entry is kept until then.
 */
export const KEEP_AFTER_EXPIRY_SEC = 24 * 3600;

export const REVOCATIONS_FILE = "revocations.sqlite";

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS revocations (
    jti        TEXT PRIMARY KEY,
    exp        INTEGER NOT NULL, -- the token's exp, unix seconds: the entry goes 24 h after it
    revoked_at INTEGER NOT NULL  -- unix seconds, for operators reading the file
  );
  CREATE INDEX IF NOT EXISTS revocations_exp ON revocations (exp);
`;

const nowSeconds = () => Math.floor(Date.now() / 1000);

export class RevocationStore implements RevocationList {
  private readonly revoked = new Set<string>();
  private readonly listeners = new Set<(jti: string) => void>();
  private readonly insert: Database.Statement<{ jti: string; exp: number; revokedAt: number }>;
  private readonly deleteExpiredBefore: Database.Statement<[number], { jti: string }>;

  private constructor(private readonly db: Database.Database) {
    this.insert = db.prepare("INSERT OR IGNORE INTO revocations (jti, exp, revoked_at) VALUES (@jti, @exp, @revokedAt)");
    this.deleteExpiredBefore = db.prepare("DELETE FROM revocations WHERE exp < ? RETURNING jti");
  }

  /** Opens (or creates) `dataDir/revocations.sqlite`, drops entries past exp + 24 h, loads the rest. */
  static open(dataDir: string, nowSec: number = nowSeconds()): RevocationStore {
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(join(dataDir, REVOCATIONS_FILE));
    try {
      db.pragma("journal_mode = WAL");
      db.exec(SCHEMA);
      const store = new RevocationStore(db);
      store.prune(nowSec);
      for (const { jti } of db.prepare<[], { jti: string }>("SELECT jti FROM revocations").iterate()) store.revoked.add(jti);
      return store;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  has(jti: string): boolean {
    return this.revoked.has(jti);
  }

  revoke(jti: string, exp: number, nowSec: number = nowSeconds()): boolean {
    if (this.revoked.has(jti)) return false;
    // Stored before the Set and the listeners learn of it: a revocation that was announced is durable.
    this.insert.run({ jti, exp: Math.ceil(exp), revokedAt: nowSec });
    this.revoked.add(jti);
    for (const listener of [...this.listeners]) listener(jti);
    return true;
  }

  /** Every kept revocation and its token's exp (the fleet's replica seeds a new fleet from them). */
  entries(): { jti: string; exp: number }[] {
    return this.db.prepare<[], { jti: string; exp: number }>("SELECT jti, exp FROM revocations").all();
  }

  onRevoke(listener: (jti: string) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * Forgets revocations of tokens expired more than 24 h ago (they are refused as expired anyway).
   * Runs on open; a long-running edge may call it now and then. Returns how many went.
   */
  prune(nowSec: number): number {
    const expired = this.deleteExpiredBefore.all(nowSec - KEEP_AFTER_EXPIRY_SEC);
    for (const { jti } of expired) this.revoked.delete(jti);
    return expired.length;
  }

  close(): void {
    this.listeners.clear();
    this.db.close();
  }
}
