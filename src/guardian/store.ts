// Rules made through the API, persisted in the data dir (issue 5 §2): dataDir/guardian.sqlite.
// IP rules without an expiry end after `ipRuleTtlMs` (nanoStream: IP blocks expire after 24 h;
// 0 = never). Posting a rule that already exists — same kind, value, type, actions, scope and
// mode — refreshes it (expiry, info, tag) and keeps its id, so a script that re-blocks an address
// every hour does not pile up duplicates; a refresh also sets its enforceOnActive.
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { RuleChange, RuleFilter, RuleStore } from "./rule-store.js";
import type { Rule, RuleDraft, RuleKind } from "./rules.js";

export interface StoreOptions {
  /** Default lifetime of IP rules without an expiry (config guardian.ipRuleTtlMs); 0 = never. */
  readonly ipRuleTtlMs: number;
  readonly now?: () => number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS rules (
    id           TEXT PRIMARY KEY,
    identity     TEXT NOT NULL UNIQUE,  -- kind, value, type, actions, scope, mode: what makes a rule the same rule
    kind         TEXT NOT NULL,
    value        TEXT NOT NULL,
    type         TEXT NOT NULL,
    actions      TEXT NOT NULL,         -- JSON array
    scope_stream TEXT,
    scope_tag    TEXT,
    expires_at   INTEGER,               -- ms since the epoch; NULL = never
    info         TEXT,
    tag          TEXT,
    mode         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    enforce_on_active INTEGER NOT NULL DEFAULT 0  -- 1: adding it ends the running sessions it refuses
  );
  CREATE INDEX IF NOT EXISTS rules_expiry ON rules (expires_at) WHERE expires_at IS NOT NULL;
`;

interface Row {
  id: string;
  kind: RuleKind;
  value: string;
  type: Rule["type"];
  actions: string;
  scope_stream: string | null;
  scope_tag: string | null;
  expires_at: number | null;
  info: string | null;
  tag: string | null;
  mode: Rule["mode"];
  created_at: number;
  enforce_on_active: number;
}

function toRule(row: Row): Rule {
  return {
    id: row.id,
    kind: row.kind,
    value: row.value,
    type: row.type,
    actions: JSON.parse(row.actions) as Rule["actions"],
    scope: row.scope_stream !== null ? { stream: row.scope_stream } : row.scope_tag !== null ? { tag: row.scope_tag } : {},
    ...(row.expires_at !== null && { expiresAt: row.expires_at }),
    ...(row.info !== null && { info: row.info }),
    ...(row.tag !== null && { tag: row.tag }),
    mode: row.mode,
    ...(row.enforce_on_active === 1 && { enforceOnActive: true }),
    createdAt: row.created_at,
    source: "api",
  };
}

export class GuardianStore implements RuleStore {
  private readonly listeners = new Set<(change: RuleChange) => void>();
  private readonly now: () => number;
  private readonly upsert: Database.Statement;
  private readonly deleteOne: Database.Statement;
  private readonly selectOne: Database.Statement;
  private readonly purge: Database.Statement;
  private readonly select: Database.Statement;
  private readonly countLive: Database.Statement;

  private constructor(
    private readonly db: Database.Database,
    private readonly options: StoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.upsert = db.prepare(
      `INSERT INTO rules (id, identity, kind, value, type, actions, scope_stream, scope_tag, expires_at, info, tag, mode, created_at, enforce_on_active)
       VALUES (@id, @identity, @kind, @value, @type, @actions, @stream, @scopeTag, @expiresAt, @info, @tag, @mode, @now, @onActive)
       ON CONFLICT (identity) DO UPDATE SET expires_at = excluded.expires_at, info = excluded.info, tag = excluded.tag,
         enforce_on_active = excluded.enforce_on_active
       RETURNING *`,
    );
    this.deleteOne = db.prepare("DELETE FROM rules WHERE id = ? AND (? IS NULL OR kind = ?)");
    this.selectOne = db.prepare("SELECT * FROM rules WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)");
    this.purge = db.prepare("DELETE FROM rules WHERE expires_at IS NOT NULL AND expires_at <= ?");
    this.countLive = db.prepare("SELECT COUNT(*) AS n FROM rules WHERE expires_at IS NULL OR expires_at > ?");
    this.select = db.prepare(
      `SELECT * FROM rules WHERE (@kind IS NULL OR kind = @kind) AND (@stream IS NULL OR scope_stream = @stream)
       AND (@tag IS NULL OR scope_tag = @tag) ORDER BY created_at, rowid`,
    );
  }

  static open(dataDir: string, options: StoreOptions): GuardianStore {
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(join(dataDir, "guardian.sqlite"));
    db.pragma("journal_mode = WAL");
    db.exec(SCHEMA);
    // A data dir from before enforceOnActive (issue 16 §5): the column is added, existing rules keep 0.
    const columns = db.prepare("PRAGMA table_info(rules)").all() as { name: string }[];
    if (!columns.some((c) => c.name === "enforce_on_active")) db.exec("ALTER TABLE rules ADD COLUMN enforce_on_active INTEGER NOT NULL DEFAULT 0");
    return new GuardianStore(db, options);
  }

  /**
   * Stores a validated rule (or refreshes the identical one) and resolves with it and its id. The
   * write is synchronous here (the change is in force when the promise settles); the RuleStore port
   * is asynchronous for stores that write over the network.
   */
  async add(draft: RuleDraft): Promise<Rule> {
    const now = this.now();
    const ttl = draft.kind === "ip" && draft.expiresAt === undefined && this.options.ipRuleTtlMs > 0 ? now + this.options.ipRuleTtlMs : null;
    const identity = identityOf(draft);
    const row = this.upsert.get({
      id: randomUUID(),
      identity,
      kind: draft.kind,
      value: draft.value,
      type: draft.type,
      actions: JSON.stringify(draft.actions),
      stream: draft.scope.stream ?? null,
      scopeTag: draft.scope.tag ?? null,
      expiresAt: draft.expiresAt === undefined ? ttl : draft.expiresAt,
      info: draft.info ?? null,
      tag: draft.tag ?? null,
      mode: draft.mode,
      now,
      onActive: draft.enforceOnActive ? 1 : 0,
    }) as Row;
    const rule = toRule(row);
    this.changed({ added: rule });
    return rule;
  }

  /** Deletes a rule; with `kind`, only a rule of that kind. */
  async remove(id: string, kind?: RuleKind): Promise<boolean> {
    const removed = this.deleteOne.run(id, kind ?? null, kind ?? null).changes > 0;
    if (removed) this.changed({ removed: id });
    return removed;
  }

  /**
   * A rule as the fleet's change log has it (src/cluster/fleet-rules.ts): stored under its own id, in
   * place of any rule of the same id or identity (two edges adding the same rule at once), and told.
   */
  put(rule: Rule): void {
    const identity = identityOf(rule);
    const displaced = this.db.prepare("DELETE FROM rules WHERE (identity = ? AND id != ?) RETURNING id").all(identity, rule.id) as { id: string }[];
    for (const { id } of displaced) this.changed({ removed: id });
    this.db
      .prepare(
        `INSERT OR REPLACE INTO rules (id, identity, kind, value, type, actions, scope_stream, scope_tag, expires_at, info, tag, mode, created_at, enforce_on_active)
         VALUES (@id, @identity, @kind, @value, @type, @actions, @stream, @scopeTag, @expiresAt, @info, @tag, @mode, @createdAt, @onActive)`,
      )
      .run({
        id: rule.id,
        identity,
        kind: rule.kind,
        value: rule.value,
        type: rule.type,
        actions: JSON.stringify(rule.actions),
        stream: rule.scope.stream ?? null,
        scopeTag: rule.scope.tag ?? null,
        expiresAt: rule.expiresAt ?? null,
        info: rule.info ?? null,
        tag: rule.tag ?? null,
        mode: rule.mode,
        createdAt: rule.createdAt,
        onActive: rule.enforceOnActive ? 1 : 0,
      });
    this.changed({ added: { ...rule, source: "api" } });
  }

  /** Every stored rule, expired ones included (the fleet's replica compares against them). */
  ids(): string[] {
    return (this.db.prepare("SELECT id FROM rules").all() as { id: string }[]).map((r) => r.id);
  }

  count(): number {
    return (this.countLive.get(this.now()) as { n: number }).n;
  }

  get(id: string): Rule | undefined {
    const row = this.selectOne.get(id, this.now()) as Row | undefined;
    return row && toRule(row);
  }

  /** Unexpired rules, oldest first; expired ones are deleted on the way. */
  list(filter: RuleFilter = {}): Rule[] {
    this.purge.run(this.now());
    const rows = this.select.all({ kind: filter.kind ?? null, stream: filter.stream ?? null, tag: filter.tag ?? null }) as Row[];
    return rows.map(toRule);
  }

  /**
   * Called after every add or remove with what changed, so a holder of all rules (the Guardian)
   * updates its copy instead of re-reading the table; returns the unsubscribe function.
   */
  onChange(listener: (change: RuleChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.listeners.clear();
    this.db.close();
  }

  private changed(change: RuleChange): void {
    for (const listener of this.listeners) listener(change);
  }
}

/** What makes two rules the same rule (one row per identity): everything but id, expiry and notes. */
function identityOf(r: Pick<RuleDraft, "kind" | "value" | "type" | "actions" | "scope" | "mode">): string {
  return JSON.stringify([r.kind, r.value, r.type, r.actions, r.scope.stream ?? null, r.scope.tag ?? null, r.mode]);
}
