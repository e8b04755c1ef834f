// Starts real edges for tests: in this process (createEdge, ports 0, a fresh data dir) or, when a
// test needs two at once, as a child process of the built CLI (NMS keeps process-global state).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { createLogger, type Logger } from "../../src/log.js";
import { createEdge, type Edge, type EdgeAddresses } from "../../src/server.js";

import type { Test } from "tap";

type Tap = Pick<Test, "teardown">;

/**
 * A data dir of this edge's own, removed after the test. Not `t.testdir()`: tap gives every call
 * in one test the same directory and empties it, so two edges of one test shared (and wiped) one
 * data dir.
 */
function freshDataDir(t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), "bintu-edge-test-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestEdge {
  edge: Edge;
  config: Config;
  addresses: EdgeAddresses;
  apiKey: string;
  api(path: string, init?: RequestInit & { json?: unknown; key?: string | null }): Promise<Response>;
  createStream(tags?: string[]): Promise<{ id: string; name: string }>;
  rtmpUrl(name: string, app?: string): string;
  flvUrl(name: string, app?: string): string;
}

/** Every listener on a free loopback port: tests never collide and never leave the machine. */
const LOOPBACK = {
  EDGE_RTMP_PORT: "0",
  EDGE_PLAYBACK_PORT: "0",
  EDGE_API_PORT: "0",
  EDGE_RTMP_HOST: "127.0.0.1",
  EDGE_PLAYBACK_HOST: "127.0.0.1",
  EDGE_API_HOST: "127.0.0.1",
};

/** Env-style overrides (`EDGE_…`) go through the real config loader. */
export async function startEdge(t: Tap, env: Record<string, string> = {}, opts: { log?: Logger } = {}): Promise<TestEdge> {
  const config = loadConfig({
    env: {
      ...LOOPBACK,
      EDGE_DATA_DIR: freshDataDir(t),
      EDGE_LOG_LEVEL: process.env.EDGE_TEST_LOG_LEVEL ?? "silent",
      ...env,
    },
  });
  const edge = createEdge(config, { log: opts.log ?? createLogger(config.logLevel) });
  t.teardown(() => edge.close());
  const addresses = await edge.start();
  return wrap(edge.apiKey, addresses, { edge, config });
}

function wrap(apiKey: string, addresses: EdgeAddresses, extra: { edge: Edge; config: Config }): TestEdge {
  const api: TestEdge["api"] = (path, init = {}) => {
    const headers = new Headers(init.headers);
    if (init.key !== null) headers.set("X-BINTU-APIKEY", init.key ?? apiKey);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(init.json);
    }
    return fetch(`http://127.0.0.1:${addresses.api.port}${path}`, { ...init, headers, body });
  };
  return {
    ...extra,
    addresses,
    apiKey,
    api,
    async createStream(tags) {
      const res = await api("/stream", { method: "POST", json: tags ? { tags } : {} });
      if (res.status !== 200) throw new Error(`POST /stream: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { id: string; ingest: { rtmp: { streamname: string } } };
      return { id: body.id, name: body.ingest.rtmp.streamname };
    },
    rtmpUrl: (name, app = "live") => `rtmp://127.0.0.1:${addresses.rtmp.port}/${app}/${name}`,
    flvUrl: (name, app = "live") => `http://127.0.0.1:${addresses.playback.port}/${app}/${name}.flv`,
  };
}

const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

/** A second edge as a child process of the built CLI (`npm test` builds first). */
export async function spawnEdge(
  t: Tap,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; addresses: { rtmp: number; playback: number; api: number; rtmps?: number } }> {
  const child = spawn(process.execPath, [CLI], {
    env: {
      ...process.env,
      ...LOOPBACK,
      EDGE_DATA_DIR: freshDataDir(t),
      EDGE_LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  let out = "";
  const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      // `rtmps N` first when plain RTMP is off; `, rtmps N` after the api port when both are on.
      const m = /ready: rtmps? (\d+), playback (\d+), api (\d+)(?:, rtmps (\d+))?.*\n/.exec(out);
      if (m) resolve(m);
    });
    child.once("exit", (code) => reject(new Error(`edge exited ${code}: ${out}`)));
  });
  const rtmps = ready[4] ? Number(ready[4]) : /ready: rtmps /.test(ready[0]) ? Number(ready[1]) : undefined;
  return { child, addresses: { rtmp: Number(ready[1]), playback: Number(ready[2]), api: Number(ready[3]), ...(rtmps ? { rtmps } : {}) } };
}
