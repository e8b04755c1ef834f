// The shared file watcher (issue 5 §3, issue 7 §2): every way a deployed file changes reaches
// onChange — an in-place write, an atomic rename, a Kubernetes ConfigMap symlink swap — and
// close() ends it. Real files in a test directory; waits poll, they do not sleep.
import t, { type Test } from "tap";
import { renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WatchedFile } from "../../src/util/watched-file.js";
import { waitFor } from "../helpers/wait.js";

function watched(t: Test, path: string, opts: { pollMs?: number } = {}) {
  let calls = 0;
  const w = new WatchedFile({ path, onChange: () => calls++, pollMs: opts.pollMs ?? 30, debounceMs: 20 });
  t.teardown(() => w.close());
  return { w, calls: () => calls };
}

t.test("an in-place write and an atomic rename both fire onChange", async (t) => {
  const dir = t.testdir({ "f.txt": "one" });
  const path = join(dir, "f.txt");
  const { calls } = watched(t, path);
  // The first poll always reports (it has nothing to compare with): consumers compare contents.
  await waitFor("the first poll", () => calls() >= 1);
  let seen = calls();
  writeFileSync(path, "two, longer");
  await waitFor("the in-place write", () => calls() > seen);
  seen = calls();
  writeFileSync(join(dir, "f.txt.tmp"), "three");
  renameSync(join(dir, "f.txt.tmp"), path);
  await waitFor("the atomic rename", () => calls() > seen);
  t.pass("both seen");
});

t.test("the poll alone sees a change (file systems where fs.watch is silent)", async (t) => {
  const dir = t.testdir({ "f.txt": "one" });
  const path = join(dir, "f.txt");
  // A poll-only watcher: its directory watch is closed, as after an fs.watch error.
  const { w, calls } = watched(t, path);
  (w as unknown as { stopWatching(): void }).stopWatching();
  await waitFor("the first poll", () => calls() >= 1);
  const seen = calls();
  writeFileSync(path, "two, longer");
  await waitFor("the poll", () => calls() > seen);
  t.pass();
});

t.test("a ConfigMap-style symlink swap fires onChange", async (t) => {
  // kubelet: dir/f.txt → ..data/f.txt, ..data → ..v1; an update makes ..v2 and renames a new
  // ..data link over the old one. The path itself is never written.
  const dir = t.testdir({ "..v1": { "f.txt": "one" }, "..v2": { "f.txt": "two" } });
  symlinkSync("..v1", join(dir, "..data"));
  symlinkSync(join("..data", "f.txt"), join(dir, "f.txt"));
  const { calls } = watched(t, join(dir, "f.txt"), { pollMs: 60_000 }); // fs.watch only
  const seen = calls();
  symlinkSync("..v2", join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  await waitFor("the swap", () => calls() > seen);
  t.pass();
});

t.test("close() stops both the watch and the poll", async (t) => {
  const dir = t.testdir({ "f.txt": "one" });
  const path = join(dir, "f.txt");
  const closed = watched(t, path);
  const witness = watched(t, path);
  await waitFor("first polls", () => closed.calls() >= 1 && witness.calls() >= 1);
  closed.w.close();
  const [c, wc] = [closed.calls(), witness.calls()];
  writeFileSync(path, "two, longer");
  await waitFor("the witness", () => witness.calls() > wc);
  // Both saw the same events on the same timers; one more change the witness sees is the margin.
  const wc2 = witness.calls();
  writeFileSync(path, "three, longer still");
  await waitFor("the witness again", () => witness.calls() > wc2);
  t.equal(closed.calls(), c);
});
