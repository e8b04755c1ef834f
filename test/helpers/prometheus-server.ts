// A real Prometheus server for tests (Debian's `prometheus` package, installed by
// scripts/install-test-deps.sh): its own free loopback port, its own TSDB in a temp dir, the
// config it is given, stopped by PID in t.teardown. Queries go through its HTTP API.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Test } from "tap";
import { waitFor } from "./wait.js";

export interface PromServer {
  url: string;
  pid: number;
  /** An instant query; throws on anything but `status: success`. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** The first sample's value as a number, or null when the result is empty. */
  scalar(expr: string): Promise<number | null>;
  api<T>(path: string): Promise<T>;
}

/** A port nobody listens on right now (Prometheus has no "port 0, tell me which"). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `files` are written beside prometheus.yml (rule files named in `config` go here). */
export async function startPrometheus(t: Pick<Test, "teardown">, config: string, files: Record<string, string> = {}): Promise<PromServer> {
  const dir = mkdtempSync(join(tmpdir(), "bintu-edge-prometheus-"));
  writeFileSync(join(dir, "prometheus.yml"), config);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const port = await freePort();
  const child = spawn(
    "prometheus",
    [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.pid !== undefined) {
      process.kill(child.pid, "SIGTERM");
      // A TSDB flush on SIGTERM takes well under a second here; SIGKILL if it hangs.
      const killer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  if (child.pid === undefined) throw new Error("prometheus did not start (scripts/install-test-deps.sh installs it)");
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `prometheus on ${url} to be ready`,
    async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log}`);
      return fetch(`${url}/-/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
    },
    20_000,
  );

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`${path}: ${body.error}`);
    return body.data;
  };
  const query: PromServer["query"] = async (expr) => {
    const data = await api<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}`,
    );
    return data.result;
  };
  return {
    url,
    pid: child.pid,
    api,
    query,
    async scalar(expr) {
      const result = await query(expr);
      return result.length === 0 ? null : Number(result[0].value[1]);
    },
  };
}
