// Checks that the repository's documents can be followed (issue 11 item 9): every `*.md` a comment
// cites is a file in this repository — a path from the repo root, a path relative to the citing
// file (`./`, `../`), or a bare name in docs/ — and every `§N` it gives is a numbered heading of
// that file (`## 2.`, `### 2.2`, `### 8a.`), with item ids such as `B2` present in that section.
// Every relative link in the README and in docs/ resolves, `#anchor`s included (GitHub's heading
// slugs). Documents outside the repository (the developers' notes and references that sit beside
// it) are refused even when they exist on this machine: a clone does not have them. Public URLs
// are allowed, not fetched.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

export interface Problem {
  file: string; // relative to the repository root, `/`-separated
  line: number;
  message: string;
}

export interface CheckResult {
  citations: number;
  links: number;
  problems: Problem[];
}

export interface TextBlock {
  line: number; // 1-based line of the block's first character
  text: string;
}

export interface Citation {
  offset: number; // in the scanned text
  path: string;
  sections: { id: string; items: string[] }[];
}

/** Folders whose comments are scanned, and the documents whose text and links are checked. */
const SCANNED_DIRS = ["src", "test", "bench", "scripts"];
const CODE_EXT = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"]);
const HASH_COMMENT_EXT = new Set([".sh", ".yml", ".yaml"]);
/** Root files with `#` comments that may cite documents too. */
const ROOT_HASH_FILES = [".taprc"];

// ---- comments -------------------------------------------------------------------------------

/**
 * The comments of a TypeScript / JavaScript file, found by the TypeScript parser (so `//` inside a
 * string, template or regular expression is not a comment). Runs of `//` lines become one block,
 * so a citation wrapped across lines (the path on one line, its `§` on the next) is read whole.
 */
export function codeComments(fileName: string, text: string): TextBlock[] {
  const kind = /\.[cm]?js$/.test(fileName) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, kind);
  const ranges = new Map<number, ts.CommentRange>();
  // All trivia sits in front of some token; the leaves of getChildren() are every token.
  const visit = (node: ts.Node): void => {
    const children = node.getChildren(sf);
    if (children.length === 0) {
      // Comments on the previous token's line are "trailing", the ones after it "leading".
      for (const r of ts.getTrailingCommentRanges(text, node.pos) ?? []) ranges.set(r.pos, r);
      for (const r of ts.getLeadingCommentRanges(text, node.pos) ?? []) ranges.set(r.pos, r);
      return;
    }
    for (const child of children) visit(child);
  };
  visit(sf);

  const blocks: TextBlock[] = [];
  let run: { line: number; lastLine: number; lines: string[] } | null = null;
  const flush = (): void => {
    if (run) blocks.push({ line: run.line, text: run.lines.join("\n") });
    run = null;
  };
  for (const r of [...ranges.values()].sort((a, b) => a.pos - b.pos)) {
    const line = sf.getLineAndCharacterOfPosition(r.pos).line + 1;
    const raw = text.slice(r.pos, r.end);
    if (r.kind === ts.SyntaxKind.SingleLineCommentTrivia) {
      const body = raw.replace(/^\/\/\/?/, "");
      if (run && run.lastLine === line - 1) {
        run.lines.push(body);
        run.lastLine = line;
      } else {
        flush();
        run = { line, lastLine: line, lines: [body] };
      }
    } else {
      flush();
      const body = raw
        .slice(2, -2)
        .split("\n")
        .map((l) => l.replace(/^\s*\*?/, ""))
        .join("\n");
      blocks.push({ line, text: body });
    }
  }
  flush();
  return blocks;
}

/** `#` comments of shell and YAML files (a `#` at the start of a line or after a space). */
export function hashComments(text: string): TextBlock[] {
  const blocks: TextBlock[] = [];
  text.split("\n").forEach((l, i) => {
    const m = /(?:^|\s)#(?!!)(.*)$/.exec(l);
    if (m) blocks.push({ line: i + 1, text: m[1] });
  });
  return blocks;
}

// ---- citations ------------------------------------------------------------------------------

const URL_RE = /\b[a-z][a-z0-9+.-]*:\/\/[^\s)>\]`'"]+/gi;
const PATH_RE = /(?<![\w/.-])((?:\.\.?\/)*(?:[\w.-]+\/)*[\w-][\w.-]*\.md)(?![\w-])/g;
// `§2`, `§ 2.2`, `§8a`, then optionally an item list (`B2/B6`, `K1-K4`, `-B`).
const SECTION_RE = /\s{0,4}§\s?([0-9]+(?:\.[0-9]+)*[a-z]?)(?:[ -]([A-Z][0-9]*(?:[-/][A-Z]?[0-9]+)*)(?![\w]))?/y;
// More sections of the same document: `§2 and §4`, `§4-§7`, `§1, §2`.
const JOIN_RE = /\s*(?:,|and|&|\/|-|–)\s*(?=§)/y;

/** Public URLs blanked out (same length, so offsets and lines stay). */
const withoutUrls = (text: string): string => text.replace(URL_RE, (u) => " ".repeat(u.length));

/** The `*.md` citations in a piece of text, with their sections and items. */
export function findCitations(text: string): Citation[] {
  const plain = withoutUrls(text);
  const out: Citation[] = [];
  for (const m of plain.matchAll(PATH_RE)) {
    const sections: Citation["sections"] = [];
    let at = m.index + m[0].length;
    for (;;) {
      SECTION_RE.lastIndex = at;
      const s = SECTION_RE.exec(plain);
      if (!s) break;
      sections.push({ id: s[1], items: s[2] ? s[2].split(/[-/]/).map((x, i, all) => (/^[A-Z]/.test(x) ? x : all[0][0] + x)) : [] });
      at = SECTION_RE.lastIndex;
      JOIN_RE.lastIndex = at;
      if (!JOIN_RE.exec(plain)) break;
      at = JOIN_RE.lastIndex;
    }
    out.push({ offset: m.index, path: m[1], sections });
  }
  return out;
}

// ---- markdown -------------------------------------------------------------------------------

export interface Heading {
  level: number;
  number: string | null; // "2", "2.2", "8a", or null for an unnumbered heading
  slug: string;
  body: string; // the text under it, up to the next heading of the same or a higher level
}

/** GitHub's heading anchor: lower case, punctuation dropped except `-` and `_`, spaces → `-`. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[`*]/g, "")
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/** Lines outside fenced code blocks (a `# comment` in a shell block is not a heading). */
function proseLines(markdown: string): { text: string; fenced: boolean }[] {
  let fenced = false;
  return markdown.split("\n").map((text) => {
    if (/^\s*(```|~~~)/.test(text)) {
      fenced = !fenced;
      return { text, fenced: true };
    }
    return { text, fenced };
  });
}

export function headings(markdown: string): Heading[] {
  const lines = proseLines(markdown);
  const found: { level: number; title: string; start: number }[] = [];
  lines.forEach((l, i) => {
    const m = !l.fenced && /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(l.text);
    if (m) found.push({ level: m[1].length, title: m[2], start: i });
  });
  const seen = new Map<string, number>();
  return found.map((h, k) => {
    let end = lines.length;
    for (const next of found.slice(k + 1))
      if (next.level <= h.level) {
        end = next.start;
        break;
      }
    const num = /^(?:§\s?)?([0-9]+(?:\.[0-9]+)*[a-z]?)(?:[.):]|\s|$)/.exec(h.title);
    const base = githubSlug(h.title);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return {
      level: h.level,
      number: num ? num[1] : null,
      slug: n === 0 ? base : `${base}-${n}`,
      body: lines
        .slice(h.start + 1, end)
        .map((l) => l.text)
        .join("\n"),
    };
  });
}

/** Inline links `[text](target)` outside code, with their line numbers. */
export function markdownLinks(markdown: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  proseLines(markdown).forEach((l, i) => {
    if (l.fenced) return;
    const text = l.text.replace(/`[^`]*`/g, (c) => " ".repeat(c.length));
    for (const m of text.matchAll(/\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line: i + 1, target: m[1] });
  });
  return out;
}

// ---- the check ------------------------------------------------------------------------------

const toPosix = (p: string): string => p.split(sep).join("/");
const lineAt = (text: string, offset: number): number => text.slice(0, offset).split("\n").length - 1;

function walk(dir: string, out: string[]): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith(".") || name === "node_modules") continue; // build output, vendored media
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else out.push(full);
  }
}

/** Scans the repository at `root`; an empty `problems` list means every citation and link holds. */
export function checkRepository(root: string): CheckResult {
  root = resolve(root);
  const problems: Problem[] = [];
  const docs = new Map<string, Heading[]>();
  const headingsOf = (abs: string): Heading[] => {
    let h = docs.get(abs);
    if (!h) docs.set(abs, (h = headings(readFileSync(abs, "utf8"))));
    return h;
  };
  const inside = (abs: string): boolean => {
    const rel = relative(root, abs);
    return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
  };

  const files: string[] = [];
  for (const d of SCANNED_DIRS) walk(join(root, d), files);
  for (const name of readdirSync(root).sort()) {
    const full = join(root, name);
    if (!statSync(full).isFile()) continue;
    if (CODE_EXT.has(extname(name)) || ROOT_HASH_FILES.includes(name) || name.endsWith(".md")) files.push(full);
  }
  walk(join(root, "docs"), files);

  let citations = 0;
  let links = 0;
  for (const abs of files) {
    const file = toPosix(relative(root, abs));
    const ext = extname(abs);
    const text = readFileSync(abs, "utf8");
    const isMarkdown = ext === ".md";
    const blocks: TextBlock[] = CODE_EXT.has(ext)
      ? codeComments(abs, text)
      : HASH_COMMENT_EXT.has(ext) || ROOT_HASH_FILES.includes(file)
        ? hashComments(text)
        : isMarkdown
          ? [{ line: 1, text: text.replace(/\]\([^)]*\)/g, (l) => " ".repeat(l.length)) }] // link targets: checked below
          : [];
    const report = (line: number, message: string): void => void problems.push({ file, line, message });

    for (const block of blocks) {
      for (const c of findCitations(block.text)) {
        citations++;
        const line = block.line + lineAt(block.text, c.offset);
        const cited = `${c.path}${c.sections.map((s) => ` §${s.id}`).join("")}`;
        if (/(^|\/)shared\/reference\/|(^|\/)\.\.\/shared\//.test(c.path)) {
          report(line, `${cited}: cites a document outside the repository`);
          continue;
        }
        const candidates = /^\.\.?\//.test(c.path)
          ? [resolve(dirname(abs), c.path)]
          : c.path.includes("/")
            ? [resolve(root, c.path)]
            : [resolve(root, c.path), resolve(root, "docs", c.path)];
        const target = candidates.find((p) => inside(p) && existsSync(p));
        if (!target) {
          report(line, candidates.some((p) => !inside(p)) ? `${cited}: points outside the repository` : `${cited}: no such file in the repository`);
          continue;
        }
        for (const s of c.sections) {
          const h = headingsOf(target).find((x) => x.number === s.id);
          if (!h) {
            report(line, `${cited}: ${toPosix(relative(root, target))} has no heading numbered ${s.id}`);
            continue;
          }
          for (const item of s.items) {
            if (!new RegExp(`\\b${item}\\b`).test(h.body)) report(line, `${cited}: item ${item} not found in §${s.id} of ${toPosix(relative(root, target))}`);
          }
        }
      }
    }

    if (!isMarkdown || !(file === "README.md" || file.startsWith("docs/") || file.startsWith("bench/"))) continue;
    for (const l of markdownLinks(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(l.target)) continue; // public URL or mailto: allowed, not fetched
      links++;
      const [pathPart, anchor] = l.target.split("#", 2) as [string, string | undefined];
      const dest = pathPart === "" ? abs : resolve(dirname(abs), decodeURIComponent(pathPart));
      if (!inside(dest)) {
        report(l.line, `link ${l.target}: points outside the repository`);
        continue;
      }
      if (!existsSync(dest)) {
        report(l.line, `link ${l.target}: no such file`);
        continue;
      }
      if (anchor !== undefined && dest.endsWith(".md") && !headingsOf(dest).some((h) => h.slug === anchor)) {
        report(l.line, `link ${l.target}: no heading with anchor #${anchor}`);
      }
    }
  }
  return { citations, links, problems };
}
