// The watched YAML rules file (issue 5 §3): parsing with line numbers, then real reloads — an
// edit in place and an atomic rename are picked up within a second; a bad file keeps the old rules.
import t from "tap";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Rule } from "../../src/guardian/rules.js";
import { parseRulesFile, RulesFile, RulesFileError } from "../../src/guardian/rules-file.js";
import { waitFor } from "../helpers/wait.js";
import { NOW } from "./helpers.js";

const GOOD = `# GitOps rules
rules:
  - ip: 203.0.113.0/24
    type: deny
    tag: abuse
  - domain: "*"
    type: deny
  - domain: app.example.com
    type: allow
    id: app
  - country: NO          # Norway, not false: YAML 1.2
    type: deny
    stream: AbCdE-12345
    actions: [play, publish]
    mode: report
    expiresAt: 2099-01-01T00:00:00Z
  - ip: "::ffff:10.0.0.0/104"
    type: allow
`;

function failure(text: string): RulesFileError {
  try {
    parseRulesFile("rules.yaml", text, NOW, NOW);
  } catch (err) {
    if (err instanceof RulesFileError) return err;
    throw err;
  }
  throw new Error("expected a RulesFileError");
}

t.test("a good file: kinds from the value key, ids, normalised values", async (t) => {
  const rules = parseRulesFile("rules.yaml", GOOD, NOW - 5, NOW);
  t.same(
    rules.map((r) => [r.id, r.kind, r.value, r.type]),
    [
      ["file:1", "ip", "203.0.113.0/24", "deny"],
      ["file:2", "referer", "*", "deny"],
      ["file:app", "referer", "app.example.com", "allow"],
      ["file:4", "country", "NO", "deny"],
      ["file:5", "ip", "10.0.0.0/8", "allow"],
    ],
  );
  t.same(rules[3], {
    kind: "country",
    value: "NO",
    type: "deny",
    actions: ["play", "publish"],
    scope: { stream: "AbCdE-12345" },
    mode: "report",
    id: "file:4",
    createdAt: NOW - 5,
    source: "file",
    expiresAt: Date.parse("2099-01-01T00:00:00Z"),
  });
  t.same(parseRulesFile("r.yaml", "rules: []\n", NOW, NOW), []);
});

t.test("a bad file: the line and the reason", async (t) => {
  const cases: [string, number, RegExp][] = [
    ["rules:\n  - ip: 10.1.2.3/8\n    type: deny\n", 2, /ip: host bits set; the network is 10\.0\.0\.0\/8/],
    ["rules:\n  - ip: 10.0.0.1\n    type: deny\n  - domain: bad_domain.com\n    type: deny\n", 4, /domain: label/],
    ["rules:\n  - country: DE\n    type: deny\n    stram: s1\n", 4, /stram: unknown field/],
    ["rules:\n  - country: DE\n", 2, /type is required/],
    ["rules:\n  - type: deny\n", 2, /exactly one of ip, domain, country/],
    ["rules:\n  - ip: 1.1.1.1\n    type: deny\n    ttlSeconds: 60\n", 4, /absolute expiresAt/],
    ["rules:\n  - ip: 1.1.1.1\n    type: deny\n    id: x\n  - ip: 1.1.1.2\n    type: deny\n    id: x\n", 7, /duplicate rule id "file:x"/],
    ["rules:\n  - ip: 1.1.1.1\n    type: deny\n    type: allow\n", 4, /unique/],
    ["rules:\n  - ip: [1.1.1.1\n", 3, /./],
    ["", 1, /`rules:` list/],
    ["- ip: 1.1.1.1\n", 1, /`rules:` list/],
    ["rules:\n", 1, /must be a list/],
    ["rule:\n  - ip: 1.1.1.1\n", 1, /unknown key "rule"/],
  ];
  for (const [text, line, reason] of cases) {
    const err = failure(text);
    t.equal(err.line, line, `line ${line}: ${err.message}`);
    t.match(err.reason, reason);
  }
});

t.test("watching: edits and atomic renames reload within 1 s; a bad file keeps the old rules", async (t) => {
  const dir = t.testdir();
  const path = join(dir, "rules.yaml");
  writeFileSync(path, "rules:\n  - ip: 10.0.0.1\n    type: deny\n");
  let current: readonly Rule[] = [];
  const reloads: string[] = [];
  const file = new RulesFile({
    path,
    onRules: (rules) => (current = rules),
    onReload: (result, err) => reloads.push(err ? `${result} line ${err.line}` : result),
    debounceMs: 20,
  });
  t.teardown(() => file.close());
  t.same(
    current.map((r) => r.value),
    ["10.0.0.1"],
    "loaded synchronously at start",
  );

  writeFileSync(path, "rules:\n  - ip: 10.0.0.2\n    type: deny\n");
  const edit = await waitFor("the edit", () => current[0]?.value === "10.0.0.2", 1000);
  t.ok(edit < 1000, `edit in place applied after ${edit} ms`);

  writeFileSync(join(dir, "rules.yaml.tmp"), "rules:\n  - ip: 10.0.0.3\n    type: deny\n");
  renameSync(join(dir, "rules.yaml.tmp"), path);
  const rename = await waitFor("the rename", () => current[0]?.value === "10.0.0.3", 1000);
  t.ok(rename < 1000, `atomic rename applied after ${rename} ms`);

  writeFileSync(path, "rules:\n  - ip: 10.0.0.4\n    type: deny\n  - ip: nope\n    type: deny\n");
  await waitFor("the failed reload", () => reloads.includes("error line 4"), 1000);
  t.same(
    current.map((r) => r.value),
    ["10.0.0.3"],
    "the bad file left the rules as they were",
  );
  t.same(reloads, ["ok", "ok", "error line 4"], "counted once per version");

  writeFileSync(path, "rules: []\n");
  await waitFor("the fix", () => current.length === 0, 1000);
});

t.test("a bad or missing file at start throws", async (t) => {
  const dir = t.testdir({ "bad.yaml": "rules:\n  - ip: 1.2.3.4/8\n    type: deny\n" });
  t.throws(
    () => new RulesFile({ path: join(dir, "bad.yaml"), onRules: () => {} }),
    new RulesFileError(join(dir, "bad.yaml"), 2, "ip: host bits set; the network is 1.0.0.0/8"),
  );
  t.throws(() => new RulesFile({ path: join(dir, "missing.yaml"), onRules: () => {} }), /missing\.yaml: cannot read: ENOENT/);
});
