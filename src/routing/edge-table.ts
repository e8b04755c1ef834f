// The routing table's source (issue 7 §1): `routing.edges` in the config, or a YAML file with an
// `edges:` list that is watched and reloaded. A file that fails validation keeps the table in
// force and says why (key path and reason, in the config loader's words); at start-up it refuses
// to start, like any bad config.
import { readFileSync } from "node:fs";
import YAML from "yaml";
import { checkPart, edgeTableIssues, type ConfigIssue } from "../config/load.js";
import { EdgeTableSchema, type Config, type EdgeEntry } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { EdgeLoad } from "./health.js";
import type { EdgeFeed } from "./router.js";
import { WatchedFile } from "../util/watched-file.js";

export class EdgeTableError extends Error {
  override name = "EdgeTableError";
  constructor(
    readonly path: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(`${path}: ${issues.map((i) => `${i.path}: ${i.reason}`).join("; ")}`);
  }
}

/** Parses and validates an edge file's text (pure). Throws EdgeTableError. */
export function parseEdgeFile(path: string, text: string): EdgeEntry[] {
  const fail = (reason: string, at = "(file)"): never => {
    throw new EdgeTableError(path, [{ path: at, reason }]);
  };
  const doc = YAML.parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) fail(`YAML syntax error: ${doc.errors[0].message.split("\n")[0]}`);
  const data = doc.toJS() as unknown;
  // An empty file is far more often a write in progress than an intent to route nowhere.
  if (typeof data !== "object" || data === null || Array.isArray(data) || !("edges" in data)) {
    return fail("expected a mapping with an `edges:` list (`edges: []` for none)");
  }
  const unknown = Object.keys(data).find((k) => k !== "edges");
  if (unknown) fail("unknown key", unknown);
  const { value, issues } = checkPart(EdgeTableSchema, data.edges, "edges");
  issues.push(...(issues.length === 0 ? edgeTableIssues(value, "edges") : []));
  if (issues.length > 0) throw new EdgeTableError(path, issues);
  return value;
}

export interface EdgeTableOptions {
  readonly inline: readonly EdgeEntry[];
  /** "" = the inline table, fixed. */
  readonly file: string;
  readonly onReload?: (result: "ok" | "error") => void;
  readonly log?: Logger;
  readonly pollMs?: number;
  readonly debounceMs?: number;
}

/** The edge feed of a single edge: the configured table, or the watched edges file. */
export class EdgeTableSource implements EdgeFeed {
  private readonly watched: WatchedFile | null = null;
  private lastText: string | null = null;
  private lastError = "";
  private edges: readonly EdgeEntry[] = [];
  private readonly listeners = new Set<(edges: readonly EdgeEntry[]) => void>();

  /** Throws EdgeTableError when the file is missing or invalid at start. */
  constructor(private readonly opts: EdgeTableOptions) {
    if (opts.file === "") {
      this.edges = opts.inline;
      return;
    }
    const first = this.read();
    if (first instanceof EdgeTableError) throw first;
    this.apply(first);
    this.watched = new WatchedFile({ path: opts.file, onChange: () => this.reload(), pollMs: opts.pollMs, debounceMs: opts.debounceMs });
  }

  reload(): void {
    const result = this.read();
    if (result instanceof EdgeTableError) {
      if (result.message === this.lastError) return; // report each bad version once
      this.lastError = result.message;
      this.opts.log?.warn("routing edges file rejected, previous table kept", { path: this.opts.file, reason: result.message });
      this.opts.onReload?.("error");
      return;
    }
    if (result.text === this.lastText) return;
    this.apply(result);
    this.opts.log?.info("routing edges file reloaded", { path: this.opts.file, edges: result.edges.length });
    this.opts.onReload?.("ok");
  }

  subscribe(listener: (edges: readonly EdgeEntry[]) => void): () => void {
    this.listeners.add(listener);
    listener(this.edges);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.watched?.close();
    this.listeners.clear();
  }

  private apply(good: { text: string; edges: EdgeEntry[] }): void {
    this.lastText = good.text;
    this.lastError = "";
    this.edges = good.edges;
    for (const listener of this.listeners) listener(good.edges);
  }

  private read(): { text: string; edges: EdgeEntry[] } | EdgeTableError {
    const { file } = this.opts;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      return new EdgeTableError(file, [{ path: "(file)", reason: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
    }
    try {
      return { text, edges: parseEdgeFile(file, text) };
    } catch (err) {
      return err instanceof EdgeTableError ? err : new EdgeTableError(file, [{ path: "(file)", reason: String(err) }]);
    }
  }
}

/** The edge feed a single edge's config names: `routing.edges`, or the watched `routing.edgesFile`. */
export function configuredEdges(
  routing: Pick<Config["routing"], "edges" | "edgesFile">,
  opts: Pick<EdgeTableOptions, "log" | "onReload"> = {},
): EdgeTableSource {
  return new EdgeTableSource({ inline: routing.edges, file: routing.edgesFile, ...opts });
}

/** An edge of the fleet's registry: its routing table entry and the load it announced with it. */
export interface AnnouncedEdge {
  readonly entry: EdgeEntry;
  readonly load: EdgeLoad;
}

/**
 * The fleet's edge registry as the router needs it (src/cluster/edge-registry.ts fills it). The
 * listener gets the registry's view at once and after every read: the edges announcing now, the
 * ids set to drain (registered or configured), and whether the registry could be read at all.
 */
export interface RegisteredEdges {
  subscribe(listener: (view: RegistryView) => void): () => void;
}

export interface RegistryView {
  readonly edges: readonly AnnouncedEdge[];
  readonly drained: ReadonlySet<string>;
  /** False while Redis cannot be read: the last edges stay in the table and are probed instead. */
  readonly live: boolean;
}

const EMPTY_VIEW: RegistryView = { edges: [], drained: new Set(), live: false };

/**
 * The router's table in a fleet (issue 12 §4): the configured edges (config or edges file; they win
 * on an id clash) followed by the registered ones, each draining when the fleet says so. A new
 * table is handed on only when an entry changed; otherwise the same array with fresh loads.
 */
export class MergedEdgeFeed implements EdgeFeed {
  private configured: readonly EdgeEntry[] = [];
  private view: RegistryView = EMPTY_VIEW;
  private edges: readonly EdgeEntry[] = [];
  private signature = "";
  private readonly listeners = new Set<(edges: readonly EdgeEntry[], announced?: ReadonlyMap<string, EdgeLoad>) => void>();
  private readonly unsubscribe: Array<() => void>;

  constructor(configured: EdgeFeed, registered: RegisteredEdges) {
    this.unsubscribe = [
      configured.subscribe((edges) => {
        this.configured = edges;
        this.emit();
      }),
      registered.subscribe((view) => {
        this.view = view;
        this.emit();
      }),
    ];
  }

  subscribe(listener: (edges: readonly EdgeEntry[], announced?: ReadonlyMap<string, EdgeLoad>) => void): () => void {
    this.listeners.add(listener);
    listener(this.edges, this.announced());
    return () => this.listeners.delete(listener);
  }

  /** Ids of the configured edges (the registry reads their drain flags too). */
  configuredIds(): string[] {
    return this.configured.map((e) => e.id);
  }

  close(): void {
    for (const off of this.unsubscribe) off();
    this.listeners.clear();
  }

  private announced(): ReadonlyMap<string, EdgeLoad> {
    const ids = new Set(this.configured.map((e) => e.id));
    const loads = new Map<string, EdgeLoad>();
    if (this.view.live) for (const a of this.view.edges) if (!ids.has(a.entry.id)) loads.set(a.entry.id, a.load);
    return loads;
  }

  private emit(): void {
    const { drained } = this.view;
    const ids = new Set(this.configured.map((e) => e.id));
    const drain = (e: EdgeEntry) => (drained.has(e.id) && !e.drain ? { ...e, drain: true } : e);
    const merged = [...this.configured.map(drain), ...this.view.edges.filter((a) => !ids.has(a.entry.id)).map((a) => drain(a.entry))];
    const signature = JSON.stringify(merged);
    if (signature !== this.signature) {
      this.signature = signature;
      this.edges = merged;
    }
    const announced = this.announced();
    for (const listener of this.listeners) listener(this.edges, announced);
  }
}
