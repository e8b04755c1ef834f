// Preloaded into the edge by `npm run soak` only (NODE_OPTIONS=--require …): on SIGUSR2 it runs a
// full collection and appends what survived to $SOAK_GC_FILE, one JSON line per probe. heapUsed
// sampled between collections is a sawtooth whose teeth (tens of MB) hide a 1 MB/h trend; the heap
// right after a forced full collection is what the edge really retains (issue 18 §7).
// The edge's own code is unchanged: nothing here runs unless the soak sends the signal.
"use strict";
const { appendFileSync, existsSync, readFileSync, unlinkSync } = require("node:fs");
const v8 = require("node:v8");
const vm = require("node:vm");

const file = process.env.SOAK_GC_FILE;
if (file) {
  // --expose-gc is not accepted in NODE_OPTIONS on every Node the project supports; setting the V8
  // flag at run time and taking `gc` from a fresh context is the documented equivalent
  // (https://nodejs.org/api/v8.html#v8setflagsfromstringflags).
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc");
  appendFileSync(file, JSON.stringify({ loaded: Date.now(), pid: process.pid }) + "\n"); // the soak checks this before signalling
  process.on("SIGUSR2", () => {
    const t0 = performance.now();
    // Twice: objects kept only by weak callbacks or finalizers of the first pass go in the second.
    gc();
    gc();
    const m = process.memoryUsage();
    // By space: code (JIT output, grows while the workload warms up) apart from objects (old_space).
    const spaces = {};
    for (const s of v8.getHeapSpaceStatistics()) if (s.space_used_size > 0) spaces[s.space_name] = s.space_used_size;
    const line = { at: Date.now(), gcMs: performance.now() - t0, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss, spaces };
    // A heap snapshot when the soak asks for one (SOAK_HEAP_SNAPSHOTS): it names the file to write.
    const ask = file + ".snapshot";
    if (existsSync(ask)) {
      const target = readFileSync(ask, "utf8").trim();
      unlinkSync(ask);
      line.snapshot = v8.writeHeapSnapshot(target);
    }
    appendFileSync(file, JSON.stringify(line) + "\n");
  });
}
