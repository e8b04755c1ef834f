// The import graph of src/ and the checks of docs/layers.md (issue 11 §3), apart from the test so a
// self-test can feed the checks a graph made by hand. Imports are read by TypeScript's own scanner
// (ts.preProcessFile): static `import` / `export … from`, `import type`, side-effect imports and
// `import("…")` with a literal, never text inside comments or strings.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, posix, relative } from "node:path";
import ts from "typescript";

/** What one module imports: project modules (paths relative to the root, `/`-separated) and packages. */
export interface ModuleImports {
  readonly local: ReadonlySet<string>;
  /** Bare specifiers as written: `node:fs`, `fastify`, `@sinclair/typebox/value`. */
  readonly external: ReadonlySet<string>;
}

export type ImportGraph = ReadonlyMap<string, ModuleImports>;

/** A relative specifier as the ESM build resolves it: `./x.js` is `./x.ts`; a folder is its index. */
function resolveLocal(root: string, from: string, spec: string): string | null {
  const base = join(root, dirname(from), spec);
  const candidates = [base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts"), base];
  for (const c of candidates) if (c.endsWith(".ts") && existsSync(c) && statSync(c).isFile()) return relative(root, c).split("\\").join("/");
  return null;
}

/** Every `.ts` module under `root` (declaration files excepted) and what it imports. */
export function buildImportGraph(root: string): { graph: ImportGraph; unresolved: string[] } {
  const files: string[] = [];
  (function walk(dir: string) {
    for (const e of readdirSync(dir).sort()) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) files.push(relative(root, p).split("\\").join("/"));
    }
  })(root);
  const graph = new Map<string, ModuleImports>();
  const unresolved: string[] = [];
  for (const file of files) {
    const local = new Set<string>();
    const external = new Set<string>();
    for (const { fileName: spec } of ts.preProcessFile(readFileSync(join(root, file), "utf8"), true, true).importedFiles) {
      if (!spec.startsWith(".")) external.add(spec);
      else {
        const target = resolveLocal(root, file, spec);
        if (target === null) unresolved.push(`${file} -> ${spec}`);
        else if (target !== file) local.add(target);
      }
    }
    graph.set(file, { local, external });
  }
  return { graph, unresolved };
}

/** The top-level folder of a module, or the module itself at the top: `access/x.ts` → `access`. */
export const unitOf = (file: string): string => (file.includes("/") ? file.slice(0, file.indexOf("/")) : file);

/** Strongly connected components with more than one node, or a node that imports itself (Tarjan). */
export function cycles(edges: ReadonlyMap<string, Iterable<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || [...(edges.get(v) ?? [])].includes(v)) found.push(scc.sort());
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** The folder graph: unit → the units it imports, each arrow with the file edges behind it. */
export function folderEdges(graph: ImportGraph): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  for (const [file, { local }] of graph) {
    const from = unitOf(file);
    if (!out.has(from)) out.set(from, new Map());
    for (const target of local) {
      const to = unitOf(target);
      if (to === from) continue;
      const arrows = out.get(from)!;
      arrows.set(to, [...(arrows.get(to) ?? []), `${file} -> ${target}`]);
    }
  }
  return out;
}

/** The tables of docs/layers.md. */
export interface Layers {
  /** unit → the units it may import; "*" = anything. */
  readonly mayImport: ReadonlyMap<string, ReadonlySet<string> | "*">;
  /** `src/…` paths; a trailing `/*` is every module of that folder. */
  readonly pure: readonly string[];
  /** Package names whose import makes a module impure (with or without `node:`, subpaths included). */
  readonly io: readonly string[];
}

const codeSpans = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

/** The rows of the markdown table under `## heading`: each row's cells, header and rule line dropped. */
function tableUnder(markdown: string, heading: string): string[][] {
  const lines = markdown.split("\n");
  const at = lines.findIndex((l) => l.trim() === `## ${heading}`);
  if (at < 0) throw new Error(`docs/layers.md: no "## ${heading}" section`);
  const rows: string[][] = [];
  for (const line of lines.slice(at + 1)) {
    if (line.startsWith("## ")) break;
    if (!line.trim().startsWith("|")) continue;
    rows.push(
      line
        .trim()
        .replace(/^\||\|$/g, "")
        .split("|")
        .map((c) => c.trim()),
    );
  }
  const table = rows.slice(2); // header and the `| --- |` line
  if (table.length === 0) throw new Error(`docs/layers.md: the "${heading}" table is empty`);
  return table;
}

export function parseLayers(markdown: string): Layers {
  const mayImport = new Map<string, ReadonlySet<string> | "*">();
  for (const cells of tableUnder(markdown, "Folder rules")) {
    const [from] = codeSpans(cells[0]);
    if (from === undefined || cells.length < 4) throw new Error(`docs/layers.md: a folder row without a name or a reason: | ${cells.join(" | ")} |`);
    const allowed = codeSpans(cells[2]);
    mayImport.set(from, allowed.length === 1 && allowed[0] === "*" ? "*" : new Set(allowed));
  }
  const pure = tableUnder(markdown, "Pure modules").flatMap((cells) => codeSpans(cells[0]));
  const io = tableUnder(markdown, "I/O modules").flatMap((cells) => codeSpans(cells[0]));
  return { mayImport, pure, io };
}

export interface ArchitectureReport {
  readonly fileCycles: string[];
  readonly folderCycles: string[];
  readonly forbidden: string[];
  readonly impure: string[];
  readonly unlisted: string[];
}

const isPure = (file: string, patterns: readonly string[]) => patterns.some((p) => (p.endsWith("/*") ? posix.dirname(file) === p.slice(0, -2) : file === p));

const isIo = (spec: string, io: readonly string[]) => {
  const bare = spec.replace(/^node:/, "");
  return io.some((m) => bare === m || bare.startsWith(m + "/"));
};

/**
 * Every breach of `layers` in `graph`, one line each naming the offending edges. `prefix` turns a
 * graph path into the path docs/layers.md uses for pure modules (`src/`).
 */
export function checkArchitecture(graph: ImportGraph, layers: Layers, prefix = "src/"): ArchitectureReport {
  const local = new Map([...graph].map(([f, m]) => [f, m.local] as const));
  const fileCycles = cycles(local).map((scc) => {
    const inside = new Set(scc);
    return scc.flatMap((f) => [...graph.get(f)!.local].filter((t) => inside.has(t)).map((t) => `${f} -> ${t}`)).join(", ");
  });
  const folders = folderEdges(graph);
  const folderCycles = cycles(new Map([...folders].map(([u, arrows]) => [u, arrows.keys()] as const))).map((scc) => {
    const inside = new Set(scc);
    return scc.flatMap((u) => [...folders.get(u)!].filter(([to]) => inside.has(to)).map(([to, why]) => `${u} -> ${to} (${why.join(", ")})`)).join("; ");
  });
  const forbidden: string[] = [];
  const unlisted: string[] = [];
  for (const [from, arrows] of folders) {
    const allowed = layers.mayImport.get(from);
    if (allowed === undefined) unlisted.push(`${from}: not in the folder rules`);
    if (allowed === undefined || allowed === "*") continue;
    for (const [to, why] of arrows) if (!allowed.has(to)) forbidden.push(`${from} may not import ${to}: ${why.join(", ")}`);
  }
  const impure: string[] = [];
  for (const [file, { external }] of graph) {
    if (!isPure(prefix + file, layers.pure)) continue;
    for (const spec of external) if (isIo(spec, layers.io)) impure.push(`${file} -> ${spec}`);
  }
  const files = new Set([...graph.keys()].map((f) => prefix + f));
  for (const p of layers.pure) {
    const exists = p.endsWith("/*") ? [...files].some((f) => posix.dirname(f) === p.slice(0, -2)) : files.has(p);
    // A folder pattern may name a folder still to come (src/hooks/*); a single file must exist.
    if (!exists && !p.endsWith("/*")) unlisted.push(`${p}: listed as pure, but there is no such module`);
  }
  return { fileCycles, folderCycles, forbidden, impure, unlisted };
}
