// A YAML rules file, watched (issue 5 §3: GitOps). A change is parsed, validated and handed on
// whole; a bad file keeps the rules in force, and the error names the line and the reason.
//
//   rules:
//     - ip: 203.0.113.0/24        # or domain: / country:  — the key names the kind
//       type: deny
//       id: office-block           # optional; the rule id becomes file:office-block (default file:N)
//       actions: [play, publish]   # stream: / tagScope: / expiresAt: / mode: / info: / tag: as in the API
//
// The `rules:` key is required (`rules: []` for none): an empty file is far more often a write in
// progress than an intent to drop every rule. Watching (in-place writes, atomic renames, ConfigMap
// symlink swaps) is src/util/watched-file.ts; it may report a change that is none, so a reload
// whose text equals the last one seen does nothing.
import { readFileSync, statSync } from "node:fs";
import { isMap, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import type { Logger } from "../log.js";
import { WatchedFile } from "../util/watched-file.js";
import { kindOfEntry, parseRule, RuleValidationError, type Rule } from "./rules.js";

export class RulesFileError extends Error {
  constructor(
    readonly path: string,
    /** 1-based; absent when the file could not be read at all. */
    readonly line: number | undefined,
    readonly reason: string,
  ) {
    super(`${path}${line === undefined ? "" : `:${line}`}: ${reason}`);
  }
}

/**
 * Parses a rules file's text (pure). Every rule gets `createdAt` (the file's modification time:
 * stable across reloads of the same content). Throws RulesFileError.
 */
export function parseRulesFile(path: string, text: string, createdAt: number, nowMs: number): Rule[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const fail = (offset: number | undefined, reason: string): never => {
    throw new RulesFileError(path, offset === undefined ? 1 : lines.linePos(offset).line, reason);
  };
  const syntax = doc.errors[0];
  if (syntax) return fail(syntax.pos[0], syntax.message.split("\n")[0]);
  const root = doc.contents;
  if (!isMap(root)) return fail(root?.range?.[0], "expected a mapping with a `rules:` list");
  for (const pair of root.items) {
    const key: unknown = (pair.key as Node | null)?.toJSON?.() ?? pair.key;
    if (key !== "rules") fail((pair.key as Node | null)?.range?.[0], `unknown key "${String(key)}"`);
  }
  const list = root.get("rules", true);
  if (!isSeq(list)) return fail(list?.range?.[0] ?? root.range?.[0], "`rules:` must be a list (`rules: []` for none)");
  const ids = new Set<string>();
  return list.items.map((item, index) => {
    const node = item as Node;
    const at = (field?: string) => {
      const valueNode = field && isMap(node) ? (node.get(field.split(".")[0], true) as Node | undefined) : undefined;
      return (valueNode ?? node).range?.[0];
    };
    try {
      const entry = node.toJSON() as unknown;
      const draft = parseRule(kindOfEntry(entry), entry, { source: "file", nowMs });
      const id = `file:${draft.id ?? index + 1}`;
      if (ids.has(id)) fail(at("id"), `duplicate rule id "${id}"`);
      ids.add(id);
      const { id: _authorId, expiresAt, ...rest } = draft;
      return { ...rest, id, createdAt, source: "file" as const, ...(typeof expiresAt === "number" && { expiresAt }) };
    } catch (err) {
      if (err instanceof RuleValidationError) return fail(at(err.field), err.message);
      throw err;
    }
  });
}

export interface RulesFileOptions {
  readonly path: string;
  /** Receives every good version of the file, the first one synchronously from the constructor. */
  readonly onRules: (rules: readonly Rule[]) => void;
  readonly onReload?: (result: "ok" | "error", error?: RulesFileError) => void;
  readonly log?: Logger;
  readonly now?: () => number;
  readonly debounceMs?: number;
  readonly pollMs?: number;
}

export class RulesFile {
  private readonly watched: WatchedFile;
  /** The last version seen: a good file's text, or a bad file's error (so each is handled once). */
  private lastSeen: string | null = null;

  /** Loads the file once; a bad or missing file at start throws RulesFileError. */
  constructor(private readonly opts: RulesFileOptions) {
    const first = this.read();
    if (first instanceof RulesFileError) throw first;
    this.apply(first);
    this.watched = new WatchedFile({ path: opts.path, onChange: () => this.reload(), pollMs: opts.pollMs, debounceMs: opts.debounceMs });
  }

  /** Reads and parses now (what the watcher and the poll end up calling). */
  reload(): void {
    const result = this.read();
    if (result instanceof RulesFileError) {
      const seen = `\0${result.message}`; // NUL: never part of a good file's text
      if (this.lastSeen === seen) return;
      this.lastSeen = seen;
      this.opts.log?.warn("guardian rules file rejected, previous rules kept", { path: this.opts.path, line: result.line, reason: result.reason });
      this.opts.onReload?.("error", result);
      return;
    }
    if (result.text === this.lastSeen) return;
    this.apply(result);
    this.opts.log?.info("guardian rules file reloaded", { path: this.opts.path, rules: result.rules.length });
    this.opts.onReload?.("ok");
  }

  close(): void {
    this.watched.close();
  }

  private apply(good: { text: string; rules: Rule[] }): void {
    this.lastSeen = good.text;
    this.opts.onRules(good.rules);
  }

  private read(): { text: string; rules: Rule[] } | RulesFileError {
    const { path } = this.opts;
    let text: string;
    let mtime: number;
    try {
      mtime = Math.floor(statSync(path).mtimeMs);
      text = readFileSync(path, "utf8");
    } catch (err) {
      return new RulesFileError(path, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    try {
      return { text, rules: parseRulesFile(path, text, mtime, (this.opts.now ?? Date.now)()) };
    } catch (err) {
      if (err instanceof RulesFileError) return err;
      return new RulesFileError(path, undefined, String(err));
    }
  }
}
