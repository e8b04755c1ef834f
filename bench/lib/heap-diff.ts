// What grew between two V8 heap snapshots (the soak's SOAK_HEAP_SNAPSHOTS), split into V8's own
// code and metadata — optimised code, deopt data, feedback vectors, shapes: what the JIT adds while
// a workload warms up — and objects, the program's and native ones, where a leak would show.
// Format: https://v8.dev/docs/heap-snapshot (nodes are flat rows of snapshot.meta.node_fields).
import { readFileSync } from "node:fs";

interface HeapSnapshotFile {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Node types that are V8's machinery rather than program objects. */
const V8_OWN = new Set(["code", "hidden", "object shape"]);

/** (type:name) → [count, self bytes]. Strings and numbers are grouped by type alone. */
function tally(path: string): Map<string, [number, number]> {
  const snap = JSON.parse(readFileSync(path, "utf8")) as HeapSnapshotFile;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [W, iType, iName, iSize] = [fields.length, fields.indexOf("type"), fields.indexOf("name"), fields.indexOf("self_size")];
  const out = new Map<string, [number, number]>();
  for (let i = 0; i < snap.nodes.length; i += W) {
    const type = types[snap.nodes[i + iType]];
    const name = /string|number/.test(type) ? "" : snap.strings[snap.nodes[i + iName]].slice(0, 60);
    const key = `${type}:${name}`;
    const e = out.get(key) ?? [0, 0];
    e[0]++;
    e[1] += snap.nodes[i + iSize];
    out.set(key, e);
  }
  return out;
}

export interface HeapDiff {
  v8OwnKb: number;
  objectsKb: number;
  /** Object kinds that grew most: "type:name +count (+KB)". */
  topObjects: string[];
}

export function heapDiff(before: string, after: string, top = 5): HeapDiff {
  const a = tally(before);
  const b = tally(after);
  let v8OwnKb = 0;
  let objectsKb = 0;
  const grew: [string, number, number][] = [];
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const [ca, sa] = a.get(key) ?? [0, 0];
    const [cb, sb] = b.get(key) ?? [0, 0];
    const kb = (sb - sa) / 1024;
    if (V8_OWN.has(key.slice(0, key.indexOf(":")))) v8OwnKb += kb;
    else {
      objectsKb += kb;
      grew.push([key, cb - ca, kb]);
    }
  }
  grew.sort((x, y) => y[2] - x[2]);
  return { v8OwnKb, objectsKb, topObjects: grew.slice(0, top).map(([k, n, kb]) => `${k || "?"} ${n >= 0 ? "+" : ""}${n} (${kb.toFixed(1)} KB)`) };
}
