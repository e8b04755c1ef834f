// The layer rules of docs/layers.md, checked on the import graph of src/ (issue 11 §3): no cycle
// between files or top-level folders, no arrow the folder table does not allow, no I/O module
// imported by a pure module. A self-test runs the same checks on a graph made by hand, so this
// file cannot pass because the checks found nothing to look at.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import { buildImportGraph, checkArchitecture, cycles, parseLayers, type ImportGraph } from "./helpers/import-graph.js";

const SRC = fileURLToPath(new URL("../src", import.meta.url));
const LAYERS = fileURLToPath(new URL("../docs/layers.md", import.meta.url));

const layers = parseLayers(readFileSync(LAYERS, "utf8"));
const { graph, unresolved } = buildImportGraph(SRC);

/** One assertion per kind of breach, listing every offending edge in its message. */
const none = (t: Test, what: string, found: readonly string[]) => t.same(found, [], found.length === 0 ? `no ${what}` : `${what}:\n  ${found.join("\n  ")}`);

t.test("src/: the graph is read whole", async (t) => {
  t.ok(graph.size > 50, `${graph.size} modules`);
  t.ok(graph.get("server.ts")!.local.size > 10, "the composition root's imports are seen");
  t.ok(graph.get("guardian/snapshot.ts")!.local.has("primitives/intervals.ts"), "a named import across folders");
  t.ok(graph.get("guardian/guardian.ts")!.local.has("geo/types.ts"), "an `import type`");
  t.ok(
    [...graph.get("ingest/nms.ts")!.external].some((s) => s.startsWith("node-media-server/")),
    "packages, also through require()",
  );
  t.same(unresolved, [], "every relative import resolves to a module");
});

t.test("src/: import cycles, layer rules, pure modules (docs/layers.md)", async (t) => {
  const report = checkArchitecture(graph, layers);
  none(t, "file cycles", report.fileCycles);
  none(t, "folder cycles", report.folderCycles);
  none(t, "imports the folder rules do not allow", report.forbidden);
  none(t, "I/O imports in pure modules", report.impure);
  none(t, "stale or missing rows in docs/layers.md", report.unlisted);
});

t.test("docs/layers.md: the folder rules themselves allow no cycle", async (t) => {
  const allowed = new Map([...layers.mayImport].map(([from, to]) => [from, to === "*" ? [] : [...to]] as const));
  none(
    t,
    "cycles the rules allow",
    cycles(allowed).map((c) => c.join(" <-> ")),
  );
  const dangling = [...layers.mayImport].flatMap(([from, to]) =>
    to === "*" ? [] : [...to].filter((n) => !layers.mayImport.has(n)).map((n) => `${from} -> ${n}`),
  );
  none(t, "allowed imports of folders without a row", dangling);
  t.ok(layers.pure.includes("src/primitives/*") && layers.io.includes("fs"), "pure modules and I/O modules are read");
});

t.test("self-test: a hand-made graph with a cycle, a forbidden arrow and an impure module", async (t) => {
  const mod = (local: string[], external: string[] = []) => ({ local: new Set(local), external: new Set(external) });
  const fake: ImportGraph = new Map([
    ["core/a.ts", mod(["core/b.ts", "leaf/x.ts"])],
    ["core/b.ts", mod(["core/a.ts"])], // file cycle a <-> b
    ["core/pure.ts", mod([], ["node:fs/promises", "typescript"])],
    ["leaf/x.ts", mod(["adapter/y.ts"])], // forbidden: leaf -> adapter
    ["adapter/y.ts", mod([])],
    ["adapter/w.ts", mod(["core/pure.ts"])], // core -> leaf -> adapter -> core: a folder cycle, no file cycle
    ["stray/z.ts", mod([])],
  ]);
  const rules = parseLayers(
    [
      "## Folder rules",
      "| from | layer | may import | why |",
      "| --- | --- | --- | --- |",
      "| `core` | core | `leaf` | decides |",
      "| `leaf` | leaf | — | shared |",
      "| `adapter` | adapter | `core`, `leaf` | calls the core |",
      "## Pure modules",
      "| module | why |",
      "| --- | --- |",
      "| `src/core/pure.ts` | no I/O |",
      "| `src/core/gone.ts` | removed long ago |",
      "## I/O modules",
      "| module | why |",
      "| --- | --- |",
      "| `fs` | files |",
    ].join("\n"),
  );
  const report = checkArchitecture(fake, rules);
  t.same(report.fileCycles, ["core/a.ts -> core/b.ts, core/b.ts -> core/a.ts"]);
  t.equal(report.folderCycles.length, 1);
  t.match(report.folderCycles[0], "leaf -> adapter (leaf/x.ts -> adapter/y.ts)");
  t.same(report.forbidden, ["leaf may not import adapter: leaf/x.ts -> adapter/y.ts"]);
  t.same(report.impure, ["core/pure.ts -> node:fs/promises"], "a subpath with the node: prefix counts; other packages do not");
  t.same(report.unlisted, ["stray: not in the folder rules", "src/core/gone.ts: listed as pure, but there is no such module"]);
  t.same(cycles(new Map([["a", ["a"]]])), [["a"]], "a module importing itself is a cycle");
  t.throws(() => parseLayers("## Folder rules\n| from |\n| --- |\n"), /no "## Pure modules"|empty|without a name/);
});
