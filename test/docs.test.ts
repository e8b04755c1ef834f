// Every citation in a comment resolves to a document in this repository (with the numbered section
// it names) or a public URL, and every relative link in the README and docs/ resolves (issue 11
// item 9). The checker lives in test/helpers/doc-citations.ts; the self-test below runs it on a
// small repository full of known mistakes, so a checker that finds nothing cannot pass.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { checkRepository, codeComments, findCitations, githubSlug, headings } from "./helpers/doc-citations.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

t.test("this repository: every citation and every link resolves", async (t) => {
  const r = checkRepository(root);
  t.same(r.problems, [], r.problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join("\n") || "no problems");
  // The code cites docs/ some 80 times and the README and docs link each other: a scan that finds
  // far fewer is not looking.
  t.ok(r.citations >= 60, `${r.citations} citations checked`);
  t.ok(r.links >= 15, `${r.links} relative links checked`);
});

t.test("self-test: a repository with bad citations and links is refused, line by line", async (t) => {
  const base = mkdtempSync(join(tmpdir(), "doc-citations-"));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const repo = join(base, "repo");
  const put = (path: string, text: string): void => {
    mkdirSync(dirname(join(base, path)), { recursive: true });
    writeFileSync(join(base, path), text);
  };
  // Exists beside the repository, as the developers' notes do on their machines: still refused.
  // (Paths are assembled so that a grep for citations outside the repository finds none here.)
  const notes = ["shared", "DESIGN"].join("/") + ".md";
  const reference = ["shared", "reference", "nms"].join("/") + ".md";
  put(notes, "# Design\n\n## 4. Decisions\n");
  put("elsewhere.md", "# Elsewhere\n");
  put(
    "repo/docs/guide.md",
    [
      "# Guide",
      "## 1. Start",
      "### 1.2 Details",
      "## 6. Battery",
      "| B2 | something |",
      "## 8a. Measured",
      "See [the start](#1-start), [missing](#nope), [other](other.md), [readme](../README.md#usage),",
      "[outside](../../" + notes + "), [web](https://example.com/x.md) and `[code](nowhere)`.",
      "```sh",
      "# not a heading",
      "```",
      "",
    ].join("\n"),
  );
  put("repo/README.md", "# Repo\n\n## Usage\n\nRead [docs/guide.md](docs/guide.md#12-details) and [bad](docs/guide.md#usage).\n");
  put(
    "repo/src/a.ts",
    [
      "// good: docs/guide.md §1, guide.md §1.2 and §8a, docs/guide.md §6-B2, ../README.md",
      "// bad section: docs/guide.md §3; bad item: docs/guide.md §6 B7",
      "// gone: nowhere.md and src/missing.md; beside the repository: ../../elsewhere.md",
      `// outside: ../${notes} §4, ${reference} §8, PLAN.md §4`,
      'const s = "not a comment: ghost.md §9";',
      "const re = /https?:\\/\\/[a-z]+\\/ghost\\.md/; // public: https://example.com/doc.md §9",
      "/** wrapped: docs/guide.md",
      " *  §2 */",
      "export const x = [s, re];",
      "// split across lines (docs/guide.md",
      "// §1.3) is read whole",
      "",
    ].join("\n"),
  );
  put("repo/src/b.ts", "// fine: ./a.ts is code, not a document; docs/guide.md\n");
  put("repo/scripts/x.sh", `#!/bin/sh\n# cites ../${notes}\necho '#' ghost.md\necho hi # docs/guide.md §7\n`);

  const r = checkRepository(repo);
  const got = r.problems.map((p) => `${p.file}:${p.line}: ${p.message}`).sort();
  t.same(
    got,
    [
      "README.md:5: link docs/guide.md#usage: no heading with anchor #usage",
      "docs/guide.md:7: link #nope: no heading with anchor #nope",
      "docs/guide.md:7: link other.md: no such file",
      `docs/guide.md:8: link ../../${notes}: points outside the repository`,
      `scripts/x.sh:2: ../${notes}: cites a document outside the repository`,
      "scripts/x.sh:4: docs/guide.md §7: docs/guide.md has no heading numbered 7",
      "src/a.ts:2: docs/guide.md §3: docs/guide.md has no heading numbered 3",
      "src/a.ts:2: docs/guide.md §6: item B7 not found in §6 of docs/guide.md",
      "src/a.ts:3: nowhere.md: no such file in the repository",
      "src/a.ts:3: src/missing.md: no such file in the repository",
      "src/a.ts:3: ../../elsewhere.md: points outside the repository",
      "src/a.ts:4: PLAN.md §4: no such file in the repository",
      `src/a.ts:4: ../${notes} §4: cites a document outside the repository`,
      `src/a.ts:4: ${reference} §8: cites a document outside the repository`,
      "src/a.ts:7: docs/guide.md §2: docs/guide.md has no heading numbered 2",
      "src/a.ts:10: docs/guide.md §1.3: docs/guide.md has no heading numbered 1.3",
    ].sort(),
  );
});

t.test("citation syntax: sections, joined sections and item lists", async (t) => {
  const c = findCitations("see docs/reliability.md §0 K1-K4 and §6 A1/A2/A6, x.md §4-§7, y.md §8a; https://h/z.md §1");
  t.same(
    c.map((x) => [x.path, x.sections.map((s) => `${s.id}:${s.items.join("/")}`)]),
    [
      ["docs/reliability.md", ["0:K1/K4", "6:A1/A2/A6"]],
      ["x.md", ["4:", "7:"]],
      ["y.md", ["8a:"]],
    ],
  );
});

t.test("comments come from the parser: strings, templates and regex literals are not comments", async (t) => {
  const text = "const a = '// no'; const b = `x ${1} // no`; const r = /\\/\\/no/; // yes\n/* block */\n";
  t.same(
    codeComments("x.ts", text).map((b) => b.text.trim()),
    ["yes", "block"],
  );
});

t.test("headings carry their section numbers and GitHub's anchors", async (t) => {
  const h = headings("# T\n## 2. The edge owns the sockets: NMS never runs\n### 0.8 Client `::ffff:` forms\n## 8a. RTMP\n## Usage\n## Usage\n");
  t.same(
    h.map((x) => [x.number, x.slug]),
    [
      [null, "t"],
      ["2", "2-the-edge-owns-the-sockets-nms-never-runs"],
      ["0.8", "08-client-ffff-forms"],
      ["8a", "8a-rtmp"],
      [null, "usage"],
      [null, "usage-1"],
    ],
  );
  t.equal(githubSlug("2.2 JWT playback tokens (splay)"), "22-jwt-playback-tokens-splay");
});
