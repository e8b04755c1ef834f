import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { generateOrgHash, generateStreamName, isValidOrgHash } from "./names.js";

export type StreamState = "created" | "live" | "ended" | "locked" | "deleted";

export interface StreamRecord {
  id: string; // UUID v4
  name: string;
  state: StreamState;
  tags: string[];
  createdAt: string; // ISO 8601
  updatedAt: string;
  everLive: boolean;
}

export interface StreamListQuery {
  quantity?: number;
  state?: string;
  tags?: string[];
  name?: string;
}

export type StreamChangeListener = (rec: StreamRecord) => void;

// bintu lists 50 streams unless asked otherwise (docs/nanostream.md §1.2); the cap keeps one
// request from serialising the whole registry.
const DEFAULT_QUANTITY = 50;
const MAX_QUANTITY = 1000;
// A name collision needs two equal 65-bit draws; retrying covers it without a loop forever.
const NAME_ATTEMPTS = 3;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS streams (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- insertion order = "newest first"
    id         TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL UNIQUE,              -- the index behind findByName
    state      TEXT NOT NULL,
    tags       TEXT NOT NULL,                     -- JSON array of strings
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    ever_live  INTEGER NOT NULL
  );
`;

interface StreamRow {
  id: string;
  name: string;
  state: StreamState;
  tags: string;
  created_at: string;
  updated_at: string;
  ever_live: number;
}

interface ListParams {
  state: string | null;
  name: string | null;
  tags: string;
  quantity: number;
}

// Deleted streams are hidden unless asked for by state, as in the bintu dashboard.
// A stream matches a tag filter when no wanted tag is missing from its tags.
const LIST_FILTER = `
  (CASE WHEN @state IS NULL THEN state != 'deleted' ELSE state = @state END)
  AND NOT EXISTS (SELECT 1 FROM json_each(@tags) AS wanted
                  WHERE wanted.value NOT IN (SELECT value FROM json_each(streams.tags)))`;

function toRecord(row: StreamRow): StreamRecord {
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    tags: JSON.parse(row.tags) as string[],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    everLive: row.ever_live === 1,
  };
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown }).code === "SQLITE_CONSTRAINT_UNIQUE";
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
  const update = (sql: string) => db.prepare<{ key: string; now: string }, StreamRow>(sql);
  return {
    insert: db.prepare<StreamRow, unknown>(
      `INSERT INTO streams (id, name, state, tags, created_at, updated_at, ever_live)
       VALUES (@id, @name, @state, @tags, @created_at, @updated_at, @ever_live)`,
    ),
    byId: db.prepare<[string], StreamRow>("SELECT * FROM streams WHERE id = ?"),
    byName: db.prepare<[string], StreamRow>("SELECT * FROM streams WHERE name = ?"),
    list: db.prepare<ListParams, StreamRow>(`SELECT * FROM streams WHERE ${LIST_FILTER} ORDER BY seq DESC LIMIT @quantity`),
    listByName: db.prepare<ListParams, StreamRow>(`SELECT * FROM streams WHERE name = @name AND ${LIST_FILTER}`),
    // Each change is one conditional UPDATE, so a state can only move along the allowed
    // edges; when no row comes back the stream was not in a "from" state.
    setTags: db.prepare<{ key: string; now: string; tags: string }, StreamRow>(
      `UPDATE streams SET tags = @tags, updated_at = @now
       WHERE id = @key AND state != 'deleted' RETURNING *`,
    ),
    lock: update(`UPDATE streams SET state = 'locked', updated_at = @now
      WHERE id = @key AND state IN ('created', 'live', 'ended') RETURNING *`),
    unlock: update(`UPDATE streams
      SET state = CASE WHEN ever_live = 1 THEN 'ended' ELSE 'created' END, updated_at = @now
      WHERE id = @key AND state = 'locked' RETURNING *`),
    delete: update(`UPDATE streams SET state = 'deleted', updated_at = @now
      WHERE id = @key AND state != 'deleted' RETURNING *`),
    markLive: update(`UPDATE streams SET state = 'live', ever_live = 1, updated_at = @now
      WHERE name = @key AND state IN ('created', 'ended') RETURNING *`),
    markEnded: update(`UPDATE streams SET state = 'ended', updated_at = @now
      WHERE name = @key AND state = 'live' RETURNING *`),
  };
}

export class StreamRegistry {
  private readonly listeners = new Set<StreamChangeListener>();
  private readonly statements: Statements;

  private constructor(
    private readonly db: Database.Database,
    readonly orgHash: string,
  ) {
    this.statements = prepareStatements(db);
  }

  static open(dir: string, opts: { orgHash: string }): StreamRegistry {
    mkdirSync(dir, { recursive: true });
    const db = new Database(join(dir, "registry.sqlite"));
    try {
      // WAL: a reader (a backup, the sqlite3 shell) never blocks the edge's writes, and each
      // small commit costs one append instead of a rollback journal round trip.
      db.pragma("journal_mode = WAL");
      db.exec(SCHEMA);
      return new StreamRegistry(db, StreamRegistry.resolveOrgHash(db, opts.orgHash));
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** A configured hash wins and is remembered; otherwise the stored one keeps names stable. */
  private static resolveOrgHash(db: Database.Database, configured: string): string {
    if (configured !== "" && !isValidOrgHash(configured)) {
      throw new RangeError("orgHash must be 5 characters [A-Za-z0-9]");
    }
    const stored = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'orgHash'").get()?.value;
    const orgHash = configured || stored || generateOrgHash();
    if (orgHash !== stored) {
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('orgHash', ?)").run(orgHash);
    }
    return orgHash;
  }

  create(tags: string[] = []): StreamRecord {
    const now = new Date().toISOString();
    for (let attempt = 1; ; attempt++) {
      const row: StreamRow = {
        id: randomUUID(),
        name: generateStreamName(this.orgHash),
        state: "created",
        tags: JSON.stringify(tags),
        created_at: now,
        updated_at: now,
        ever_live: 0,
      };
      try {
        this.statements.insert.run(row);
      } catch (err) {
        if (isUniqueViolation(err) && attempt < NAME_ATTEMPTS) continue;
        throw err;
      }
      return this.notify(toRecord(row));
    }
  }

  get(id: string): StreamRecord | undefined {
    const row = this.statements.byId.get(id);
    return row && toRecord(row);
  }

  findByName(name: string): StreamRecord | undefined {
    const row = this.statements.byName.get(name);
    return row && toRecord(row);
  }

  list(q: StreamListQuery = {}): StreamRecord[] {
    const params: ListParams = {
      state: q.state ?? null,
      name: q.name ?? null,
      tags: JSON.stringify(q.tags ?? []),
      quantity: Math.min(Math.max(Math.trunc(q.quantity ?? DEFAULT_QUANTITY), 1), MAX_QUANTITY),
    };
    // Names are unique: the name filter goes through its index instead of a scan.
    const statement = q.name === undefined ? this.statements.list : this.statements.listByName;
    return statement.all(params).map(toRecord);
  }

  // Every mutation returns the stream as it is after the call (changed or not, so a refused
  // transition is visible to the caller), or undefined when the key is unknown.

  /** Replaces all tags, as bintu's `PUT /stream/{id}/tag`. Deleted streams stay as they are. */
  setTags(id: string, tags: string[]): StreamRecord | undefined {
    const params = { key: id, now: new Date().toISOString(), tags: JSON.stringify(tags) };
    return this.changed(this.statements.setTags.get(params)) ?? this.get(id);
  }

  /** Any non-deleted stream can be locked; the ingest kicks a live publisher on the change. */
  lock(id: string): StreamRecord | undefined {
    return this.transition(this.statements.lock, id) ?? this.get(id);
  }

  /** Back to `ended` when the stream was ever live, else `created`. */
  unlock(id: string): StreamRecord | undefined {
    return this.transition(this.statements.unlock, id) ?? this.get(id);
  }

  /** Soft delete: `deleted` is terminal and hidden from lists. */
  delete(id: string): StreamRecord | undefined {
    return this.transition(this.statements.delete, id) ?? this.get(id);
  }

  /** Publish started: created/ended → live. Locked or deleted streams come back unchanged. */
  markLive(name: string): StreamRecord | undefined {
    return this.transition(this.statements.markLive, name) ?? this.findByName(name);
  }

  /** Publish ended: live → ended. A stream locked while live stays locked. */
  markEnded(name: string): StreamRecord | undefined {
    return this.transition(this.statements.markEnded, name) ?? this.findByName(name);
  }

  /** Listeners run synchronously after each committed change; they must not throw. */
  onChange(fn: StreamChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.listeners.clear();
    this.db.close();
  }

  private transition(statement: Database.Statement<[{ key: string; now: string }], StreamRow>, key: string): StreamRecord | undefined {
    return this.changed(statement.get({ key, now: new Date().toISOString() }));
  }

  private changed(row: StreamRow | undefined): StreamRecord | undefined {
    return row && this.notify(toRecord(row));
  }

  private notify(rec: StreamRecord): StreamRecord {
    for (const listener of [...this.listeners]) listener(rec);
    return rec;
  }
}
