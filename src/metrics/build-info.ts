// What `bintu_edge_build_info` reports (issue 17 §3): the versions an operator compares across a
// fleet during a rollout, and the first thing to read when one edge behaves unlike the others.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export interface BuildInfo {
  version: string;
  nmsVersion: string;
  nodeVersion: string;
}

let cached: BuildInfo | undefined;

/** Read once: package.json is two levels up from both src/metrics/ and dist/metrics/. */
export function buildInfo(): BuildInfo {
  cached ??= {
    version: (require("../../package.json") as { version: string }).version,
    nmsVersion: (require("node-media-server/package.json") as { version: string }).version,
    // process.version is "v20.19.0"; the label carries the bare version, as nodejs_version_info does.
    nodeVersion: process.versions.node,
  };
  return cached;
}
