// Bench for issue 5: Guardian IP decisions per second from **string** addresses, at 10, 1,000
// and 100,000 rules (mixed v4/v6: IPv4 /20-/32, IPv6 /48-/128), next to its anchors in the same
// run — net.BlockList, cidr-matcher, and a linear ipaddr.js `match` loop — as ratios; then the
// compile time and the heap the snapshot keeps for 100,000 rules; then (issue 18 §6) what one API
// change costs the live Guardian — an add, or a delete, and the first decision after it — at 100,
// 1,000 and 10,000 rules, next to a full compile of the same set (what a change cost before the
// delta layer). In-process, no server.
//
// Every implementation gets the same address strings: half inside a random rule, half random;
// 30% IPv6, and 10% of the IPv4 ones spelled `::ffff:a.b.c.d` (a dual-stack socket's form). Our
// decide() also parses the string, finds the most specific rule and answers with its id; the
// anchors only answer "in some range". A cross-check counts disagreements (expected: 0).
//
// Each figure is the best of GUARDIAN_REPEAT runs of GUARDIAN_MIN_MS, taken after waiting for a
// quiet machine (as the other benches do): on a shared 2-core box other jobs cost a run, never add
// to it. Compile time is wall and CPU time; the first compile (cold JIT) is shown on its own.
//
// env: GUARDIAN_SIZES ("10 1000 100000"), GUARDIAN_MIN_MS (500), GUARDIAN_REPEAT (3),
//      GUARDIAN_COMPILE_RUNS (7), GUARDIAN_CHANGE_SIZES ("100 1000 10000"), GUARDIAN_CHANGE_RUNS (12),
//      QUIET_PCT (25), QUIET_MAX_S (30). Needs --expose-gc for the
//      heap figure: re-runs itself with it.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { BlockList } from "node:net";
import ipaddr from "ipaddr.js";
import { formatV4, formatV6 } from "../src/primitives/ip.js";
import { Guardian } from "../src/guardian/guardian.js";
import { compileLayer } from "../src/guardian/layer.js";
import type { RuleChange } from "../src/guardian/rule-store.js";
import type { Rule } from "../src/guardian/rules.js";
import { compile, decide, type DecideRequest } from "../src/guardian/snapshot.js";
import { waitQuiet } from "./lib/proc.js";
import { envList, envNumber, fmt, percentile, prng, ratio, sleep, table } from "./lib/stats.js";

if (typeof globalThis.gc !== "function") {
  const r = spawnSync(process.execPath, ["--expose-gc", ...process.argv.slice(1)], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}
const gc = globalThis.gc as () => void;

const SIZES = envList("GUARDIAN_SIZES", "10 1000 100000").map(Number);
const MIN_MS = envNumber("GUARDIAN_MIN_MS", 500);
const REPEAT = Math.max(1, envNumber("GUARDIAN_REPEAT", 3));
const COMPILE_RUNS = Math.max(2, envNumber("GUARDIAN_COMPILE_RUNS", 7));
const CHANGE_SIZES = envList("GUARDIAN_CHANGE_SIZES", "100 1000 10000").map(Number);
const CHANGE_RUNS = Math.max(1, envNumber("GUARDIAN_CHANGE_RUNS", 12));
const QUIET_PCT = envNumber("QUIET_PCT", 25);
const QUIET_MAX_S = envNumber("QUIET_MAX_S", 30);
const CROSS_CHECK = 512;
const QUERIES = 4096; // a power of two: query i is queries[i & MASK]
const MASK = QUERIES - 1;

const CidrMatcher = createRequire(import.meta.url)("cidr-matcher") as new (cidrs: string[]) => { contains(ip: string): boolean };

interface Net {
  v6: boolean;
  start: bigint;
  size: bigint;
  text: string;
}

function makeNets(n: number, rnd: () => number): Net[] {
  const nets: Net[] = [];
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const big = (bits: number) => {
    let v = 0n;
    for (let i = 0; i < bits; i += 32) v = (v << 32n) | BigInt(Math.floor(rnd() * 2 ** 32));
    return v & ((1n << BigInt(bits)) - 1n);
  };
  for (let i = 0; i < n; i++) {
    const v6 = rnd() < 0.3;
    const prefix = v6 ? int(48, 128) : int(20, 32);
    const bits = v6 ? 128 : 32;
    const size = 1n << BigInt(bits - prefix);
    // IPv6 rules sit in 2000::/3, where the traffic is.
    const raw = v6 ? (1n << 125n) | big(125) : big(32);
    const start = raw - (raw % size);
    const addr = v6 ? formatV6(start) : formatV4(Number(start));
    nets.push({ v6, start, size, text: prefix === bits ? addr : `${addr}/${prefix}` });
  }
  return nets;
}

function makeQueries(nets: Net[], rnd: () => number): string[] {
  const out: string[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const v6 = rnd() < 0.3;
    const inside = nets.filter((n) => n.v6 === v6);
    let addr: bigint;
    if (rnd() < 0.5 && inside.length > 0) {
      const n = inside[Math.floor(rnd() * inside.length)];
      addr = n.start + BigInt(Math.floor(rnd() * Number(n.size > 2n ** 50n ? 2n ** 50n : n.size)));
    } else {
      addr = v6 ? (1n << 125n) | (BigInt(Math.floor(rnd() * 2 ** 53)) << 72n) : BigInt(Math.floor(rnd() * 2 ** 32));
    }
    const text = v6 ? formatV6(addr) : formatV4(Number(addr));
    out.push(!v6 && rnd() < 0.1 ? `::ffff:${text}` : text);
  }
  return out;
}

function toRules(nets: Net[]): Rule[] {
  return nets.map((n, i) => ({
    id: `r${i}`,
    kind: "ip",
    value: n.text,
    type: "deny",
    actions: ["play"],
    scope: {},
    mode: "enforce",
    createdAt: i,
    source: "api",
  }));
}

let busiest = 0;

/**
 * Runs `count` checks from query `from` on, returns how many hit. Each implementation has its
 * own loop, so no call site inside a measured loop is shared (and slowed) between them.
 */
type Batch = (from: number, count: number) => number;

/** Best of REPEAT runs of MIN_MS: checks per second. */
async function measure(batch: Batch): Promise<number> {
  let best = 0;
  let sink = 0;
  for (let run = 0; run < REPEAT; run++) {
    busiest = Math.max(busiest, (await waitQuiet(QUIET_PCT, QUIET_MAX_S)).busy);
    let n = 0;
    let size = 1;
    const t0 = performance.now();
    let elapsed = 0;
    do {
      sink += batch(n, size);
      n += size;
      elapsed = performance.now() - t0;
      if (elapsed < MIN_MS / 20 && size < 65536) size *= 2; // slow checks: few per clock read
    } while (elapsed < MIN_MS);
    best = Math.max(best, (n / elapsed) * 1000);
  }
  if (sink < 0) console.log(sink); // keeps the loops from being optimised away
  return best;
}

const NOW = Date.now();
const OPTS = { allowMissingReferer: true };
const TAGS: readonly string[] = [];

const rows: string[][] = [];
const ratioRows: string[][] = [];
for (const size of SIZES) {
  const rnd = prng(size);
  const nets = makeNets(size, rnd);
  const queries = makeQueries(nets, rnd);
  const snap = compile(toRules(nets), NOW);
  const reqs: DecideRequest[] = queries.map((ip) => ({ action: "play", ip, stream: "s", tags: TAGS, nowMs: NOW }));

  const block = new BlockList();
  for (const n of nets) {
    const [addr, prefix] = n.text.split("/");
    block.addSubnet(addr, Number(prefix ?? (n.v6 ? 128 : 32)), n.v6 ? "ipv6" : "ipv4");
  }
  // cidr-matcher wants a prefix on every entry.
  const matcher = new CidrMatcher(nets.map((n) => (n.text.includes("/") ? n.text : `${n.text}/${n.v6 ? 128 : 32}`)));
  const ranges = nets.map((n) =>
    n.text.includes("/") ? ipaddr.parseCIDR(n.text) : ([ipaddr.parse(n.text), n.v6 ? 128 : 32] as [ipaddr.IPv4 | ipaddr.IPv6, number]),
  );

  const ours: Batch = (from, count) => {
    let hits = 0;
    for (let i = from; i < from + count; i++) if (!decide(snap, reqs[i & MASK], OPTS).allow) hits++;
    return hits;
  };
  const anchors: Record<string, Batch> = {
    "net.BlockList": (from, count) => {
      let hits = 0;
      for (let i = from; i < from + count; i++) {
        const ip = queries[i & MASK];
        if (block.check(ip, ip.includes(":") ? "ipv6" : "ipv4")) hits++;
      }
      return hits;
    },
    "cidr-matcher": (from, count) => {
      let hits = 0;
      for (let i = from; i < from + count; i++) if (matcher.contains(queries[i & MASK])) hits++;
      return hits;
    },
    "ipaddr.js loop": (from, count) => {
      let hits = 0;
      for (let i = from; i < from + count; i++) {
        const a = ipaddr.process(queries[i & MASK]);
        for (const r of ranges) {
          if (a.kind() === r[0].kind() && a.match(r)) {
            hits++;
            break;
          }
        }
      }
      return hits;
    },
  };
  let disagree = 0;
  for (let q = 0; q < CROSS_CHECK; q++) for (const f of Object.values(anchors)) if (f(q, 1) !== ours(q, 1)) disagree++;
  const hits = ours(0, QUERIES);

  const guardian = await measure(ours);
  const figures: [string, number][] = [];
  for (const [name, f] of Object.entries(anchors)) figures.push([name, await measure(f)]);
  rows.push([`${size}`, "guardian decide", fmt(guardian, 0), `${hits}/${QUERIES}`, `${disagree}/${CROSS_CHECK * 3}`]);
  for (const [name, ops] of figures) rows.push(["", name, fmt(ops, 0), "", ""]);
  ratioRows.push([`${size}`, ...figures.map(([, ops]) => ratio(guardian, ops, 1))]);
}

console.log("\nGuardian IP decisions from string addresses (checks/s; rules all deny, org-wide)\n");
console.log(table(["rules", "implementation", "checks/s", "denied", "disagreements"], rows));
console.log(`(machine busy before runs: at most ${fmt(busiest, 0)}% of one core; best of ${REPEAT} × ${MIN_MS} ms)`);
console.log("\nguardian / anchor (goals: ≥ 10× net.BlockList at 10 rules, ≥ 1,000× at 100k, ≥ 5M/s at 100k)\n");
console.log(table(["rules", "net.BlockList", "cidr-matcher", "ipaddr.js loop"], ratioRows));

// Compile time and retained heap for the largest size (goal: 100k rules < 200 ms, < 10 MB).
const big = Math.max(...SIZES);
const rules = toRules(makeNets(big, prng(big)));
const wall: number[] = [];
const cpu: number[] = [];
for (let i = 0; i < COMPILE_RUNS; i++) {
  await waitQuiet(QUIET_PCT, QUIET_MAX_S);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  compile(rules, NOW);
  wall.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
}
gc();
const mem = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
const before = mem();
const kept = compile(rules, NOW);
gc();
const after = mem();
const warm = (xs: number[]) => `median ${fmt(percentile(xs.slice(1), 50), 1)}, best ${fmt(Math.min(...xs.slice(1)), 1)}`;
console.log(`\ncompile ${big} rules (goal < 200 ms): first ${fmt(wall[0], 1)} ms wall / ${fmt(cpu[0], 1)} ms CPU (cold JIT);`);
console.log(`  then ${COMPILE_RUNS - 1} runs: wall ${warm(wall)} ms; CPU ${warm(cpu)} ms (CPU includes GC threads)`);
// The live Guardian's base keeps every rule behind a permanent one in its chains (a delete may
// unmask them): the same rules compiled that way.
gc();
const beforeBase = mem();
const keptBase = compileLayer(rules, NOW, true);
gc();
const afterBase = mem();
console.log(`snapshot retained (goal < 10 MB): ${fmt((after - before) / 2 ** 20, 2)} MiB (heapUsed + arrayBuffers after gc; ${kept.rules.length} rules)`);
console.log(`  as the live Guardian's maskable base: ${fmt((afterBase - beforeBase) / 2 ** 20, 2)} MiB (${keptBase.rules.length} rules)`);

/**
 * One API change on the live Guardian, timed from the store's change event to the first decision
 * after it (the decision puts the change in force): adds of a new /32 (each undone by a delete, so
 * every add meets a freshly folded base), and deletes of a base rule, one per fold — the Guardian
 * folds in the background a second after a change, and the bench waits for that between runs.
 */
async function changeCost(size: number): Promise<string[]> {
  const rules = toRules(makeNets(size, prng(size + 1)));
  let emit: (c: RuleChange) => void = () => {};
  const guardian = new Guardian({
    apiRules: { list: () => rules, onChange: (l) => ((emit = l), () => {}) },
    allowMissingReferer: true,
  });
  const play = (ip: string) => guardian.decide({ action: "play", ip, stream: "s", tags: TAGS });
  const folded = async () => {
    while (guardian.snapshot.delta !== null) await sleep(50);
  };
  const adds: number[] = [];
  const deletes: number[] = [];
  let wrong = 0;
  for (let run = 0; run < CHANGE_RUNS; run++) {
    await folded();
    await waitQuiet(QUIET_PCT, QUIET_MAX_S);
    for (let i = 0; i < 20; i++) {
      const ip = `198.18.${run}.${i}`; // 198.18.0.0/15 (benchmarking): outside every generated rule
      const rule: Rule = { ...rules[0], id: `add-${run}-${i}`, value: ip, createdAt: size + run * 20 + i };
      const t0 = performance.now();
      emit({ added: rule });
      const refused = !play(ip).allow;
      adds.push(performance.now() - t0);
      if (!refused) wrong++;
      emit({ removed: rule.id });
      if (!play(ip).allow) wrong++;
    }
    // A delete of a base rule: the rule's first address is then decided without it.
    const victim = rules[run % rules.length];
    const ip = victim.value.split("/")[0];
    const t0 = performance.now();
    emit({ removed: victim.id });
    const d = play(ip);
    deletes.push(performance.now() - t0);
    if (!d.allow && d.ruleId === victim.id) wrong++;
  }
  guardian.close();
  const full: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    compile(rules, NOW);
    full.push(performance.now() - t0);
  }
  const med = (xs: number[]) => percentile(xs, 50);
  const us = (ms: number) => fmt(ms * 1000, 0);
  return [
    `${size}`,
    us(med(adds)),
    us(percentile(adds, 90)),
    us(med(deletes)),
    fmt(med(full.slice(1)), 2),
    ratio(med(full.slice(1)), med(adds), 0),
    ratio(med(full.slice(1)), med(deletes), 0),
    String(wrong),
  ];
}

const changeRows: string[][] = [];
for (const size of CHANGE_SIZES) changeRows.push(await changeCost(size));
console.log("\none API change on the live Guardian, until the first decision after it (goal: flat across sizes)\n");
console.log(
  table(
    ["rules", "add+decide median (µs)", "p90 (µs)", "delete+decide median (µs)", "full compile (ms)", "compile/add", "compile/delete", "wrong"],
    changeRows,
  ),
);
console.log(`(${CHANGE_RUNS} × 20 adds, each on a freshly folded base; ${CHANGE_RUNS} deletes of a base rule; "wrong": a decision that missed the change)`);
