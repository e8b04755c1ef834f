// Start-up refuses an unpatched node-media-server (issue 11 §5). The unpatched package is made
// from a copy of the installed one with the project's patch applied in reverse, in a test
// directory: the shared node_modules is never modified.
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { NMS_PATCH_FILE, nmsPatchProblem } from "../../src/ingest/nms-patch.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NMS = dirname(createRequire(import.meta.url).resolve("node-media-server/package.json"));

/** A copy of the installed NMS at `dir`, with the patch reversed unless `patched`. */
function nmsCopy(dir: string, patched: boolean): string {
  cpSync(NMS, dir, { recursive: true });
  if (patched) return dir;
  // The patch's paths are a/node_modules/node-media-server/...: -p3 leaves the package-relative path.
  const res = spawnSync("patch", ["-R", "-p3", "-d", dir, "-i", join(ROOT, NMS_PATCH_FILE)], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`patch -R failed: ${res.stderr || res.stdout}`);
  return dir;
}

t.test("the patch file the message names is the one the project ships", async (t) => {
  t.ok(existsSync(join(ROOT, NMS_PATCH_FILE)), NMS_PATCH_FILE);
});

t.test("the installed node-media-server passes, a reversed copy is refused with one line", async (t) => {
  t.equal(nmsPatchProblem(), null, "this install (postinstall ran patch-package)");
  const dir = t.testdir();
  t.equal(nmsPatchProblem(nmsCopy(join(dir, "patched"), true)), null, "a patched copy loaded from a root passes too");

  const unpatched = nmsCopy(join(dir, "unpatched"), false);
  t.notMatch(readFileSync(join(unpatched, "src/protocol/rtmp.js"), "utf8"), "bintu-edge", "the copy is NMS as published");
  const problem = nmsPatchProblem(unpatched);
  t.type(problem, "string");
  t.notMatch(problem, "\n", "one line");
  t.match(problem, `node-media-server at ${unpatched} lacks ${NMS_PATCH_FILE}`);
  t.match(problem, "RTMP parser limits, GOP cache byte bound");
  t.match(problem, "`npx patch-package`");
});

t.test("each patched file is checked by what it does", async (t) => {
  const dir = t.testdir();
  const patched = nmsCopy(join(dir, "patched"), true);
  // Parser reverted, broadcast server still patched: only the parser limits are missing.
  const half = nmsCopy(join(dir, "half"), false);
  copyFileSync(join(patched, "src/server/broadcast_server.js"), join(half, "src/server/broadcast_server.js"));
  const problem = nmsPatchProblem(half) ?? "";
  t.match(problem, "(RTMP parser limits missing)");
  t.notMatch(problem, "GOP cache");
});

t.test("bintu-edge exits 1 with the one line when its node-media-server is unpatched", async (t) => {
  // What `npm ci --ignore-scripts` leaves: the built CLI next to a node_modules whose NMS is as
  // published. Every other package is a symlink to this install (Node resolves it to its real
  // path); only node-media-server is a real, reversed copy, found first by the CLI's own
  // node_modules lookup. Nothing in the CLI is told it runs under test.
  const install = t.testdir({ "package.json": JSON.stringify({ type: "module" }) });
  cpSync(join(ROOT, "dist"), join(install, "dist"), { recursive: true });
  mkdirSync(join(install, "node_modules"));
  for (const name of readdirSync(join(ROOT, "node_modules"))) {
    if (name === "node-media-server" || name.startsWith(".")) continue;
    symlinkSync(join(ROOT, "node_modules", name), join(install, "node_modules", name));
  }
  nmsCopy(join(install, "node_modules", "node-media-server"), false);
  const cli = join(install, "dist", "cli.js");
  const dataDir = join(install, "data");
  const run = (args: string[]) =>
    spawnSync(process.execPath, [cli, ...args], {
      env: {
        PATH: process.env.PATH,
        EDGE_DATA_DIR: dataDir,
        EDGE_RTMP_HOST: "127.0.0.1",
        EDGE_RTMP_PORT: "0",
        EDGE_PLAYBACK_HOST: "127.0.0.1",
        EDGE_PLAYBACK_PORT: "0",
        EDGE_API_HOST: "127.0.0.1",
        EDGE_API_PORT: "0",
      },
      encoding: "utf8",
      timeout: 20_000,
    });

  // Control: the copied install loads every module (usage exits 0), so the refusal below is the check's.
  t.equal(run(["--help"]).status, 0, "the copied install resolves all its modules");

  const res = run([]);
  t.equal(res.status, 1, res.stderr);
  t.equal(res.stdout, "", "no ready line");
  const lines = res.stderr.split("\n").filter((l) => l !== "");
  t.equal(lines.length, 1, "exactly one line on stderr");
  t.match(lines[0], new RegExp(`^bintu-edge: node-media-server at .*/node_modules/node-media-server lacks ${NMS_PATCH_FILE.replace(/[+.]/g, "\\$&")} `));
  t.match(lines[0], "apply it with `npx patch-package`");
  t.notOk(existsSync(dataDir), "refused before the data dir was created");
});
