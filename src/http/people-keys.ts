// API keys for people (issue 16 §8): an admin gives a colleague a key with the role `nanoUser` or
// `nanoReadOnly`; the organisation key stays the only `nanoAdmin` key. Only a SHA-256 of each key
// is stored (in the data dir, 0600) and the key itself is shown once, at creation. The keys are 24
// random bytes, so a plain hash is enough: nothing short enough to guess hides behind it, which is
// what slow password hashes are for.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Role } from "./admin-auth.js";

/** The roles a person's key may have: `nanoAdmin` is the organisation key's alone. */
export type PersonRole = Exclude<Role, "nanoAdmin">;
export const PERSON_ROLES: readonly PersonRole[] = ["nanoUser", "nanoReadOnly"];

export interface PersonKey {
  readonly id: string;
  readonly role: PersonRole;
  readonly label: string;
  readonly createdAt: string;
}

interface StoredKey extends PersonKey {
  readonly sha256: string;
}

const FILE = "people-keys.json";
/** A store is a list a person reads on one page: past this, an admin cleans up first. */
export const MAX_PEOPLE_KEYS = 200;

const sha256 = (key: string) => createHash("sha256").update(key).digest("hex");

export class PeopleKeys {
  private readonly byHash = new Map<string, StoredKey>();
  private readonly revokeListeners = new Set<(id: string) => void>();

  private constructor(private readonly path: string | null) {}

  /** The store in `dataDir`, or one kept in memory only (`dataDir` null: tests, remote mode without a dir). */
  static open(dataDir: string | null): PeopleKeys {
    const store = new PeopleKeys(dataDir === null ? null : join(dataDir, FILE));
    if (store.path !== null) {
      let text: string | undefined;
      try {
        text = readFileSync(store.path, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      if (text !== undefined) for (const k of (JSON.parse(text) as { keys: StoredKey[] }).keys) store.byHash.set(k.sha256, k);
    }
    return store;
  }

  /** The person's role and key id, or null: the map is keyed by the hash, so no key is compared by hand. */
  lookup(presented: string): { id: string; role: PersonRole } | null {
    const found = this.byHash.get(sha256(presented));
    return found ? { id: found.id, role: found.role } : null;
  }

  list(): PersonKey[] {
    return [...this.byHash.values()].map(({ id, role, label, createdAt }) => ({ id, role, label, createdAt }));
  }

  /** A new key: the only time the key itself is ever returned. */
  create(role: PersonRole, label: string, now = new Date()): (PersonKey & { key: string }) | null {
    if (this.byHash.size >= MAX_PEOPLE_KEYS) return null;
    const key = "bek_" + randomBytes(24).toString("base64url");
    const entry: StoredKey = { id: randomBytes(6).toString("hex"), role, label, createdAt: now.toISOString(), sha256: sha256(key) };
    this.byHash.set(entry.sha256, entry);
    this.save();
    return { id: entry.id, role, label, createdAt: entry.createdAt, key };
  }

  revoke(id: string): boolean {
    for (const [hash, entry] of this.byHash) {
      if (entry.id !== id) continue;
      this.byHash.delete(hash);
      this.save();
      for (const listener of this.revokeListeners) listener(id);
      return true;
    }
    return false;
  }

  /** Told the id of every revoked key: the live-update streams of that key close at once. */
  onRevoke(listener: (id: string) => void): () => void {
    this.revokeListeners.add(listener);
    return () => this.revokeListeners.delete(listener);
  }

  /** Written whole to a temporary file and renamed: a crash leaves the old list or the new one. */
  private save(): void {
    if (this.path === null) return;
    mkdirSync(join(this.path, ".."), { recursive: true });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify({ keys: [...this.byHash.values()] }, null, 1), { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
