// A real redis-server for fleet tests (Debian's `redis-server`, installed by
// scripts/install-test-deps.sh): its own free loopback port, no persistence (a restart comes back
// empty, as a Redis without persistence or a replaced one does), stopped by PID in t.teardown.
// Tests kill it (SIGKILL), freeze it (SIGSTOP / SIGCONT) and start it again on the same port.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import type { Test } from "tap";
import { freePort } from "./prometheus-server.js";
import { waitFor } from "./wait.js";

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** The running server's PID (changes on restart). */
  pid(): number;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
  /** SIGSTOP: the TCP connections stay up, nothing is answered. */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
  /** Starts again on the same port, empty. */
  restart(): Promise<void>;
  /** A command by redis-cli-free means: one RESP request on a fresh socket, the raw reply. */
  command(...args: string[]): Promise<string>;
}

export async function startRedis(t: Pick<Test, "teardown">, extraArgs: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  let stopped = false;

  const launch = async () => {
    const c = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning", ...extraArgs],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let log = "";
    c.stderr.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
    if (c.pid === undefined) throw new Error("redis-server did not start (scripts/install-test-deps.sh installs it)");
    child = c;
    await waitFor(`redis-server on port ${port}`, async () => {
      if (c.exitCode !== null) throw new Error(`redis-server exited ${c.exitCode}: ${log}`);
      return (await command("PING").catch(() => "")) === "+PONG\r\n";
    });
  };
  const exit = async () => {
    const c = child;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once("exit", () => resolve()));
    process.kill(c.pid!, "SIGKILL");
    await gone;
  };
  const command = (...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      let reply = "";
      socket.setTimeout(2_000, () => socket.destroy(new Error("redis command timed out")));
      socket.on("error", reject);
      socket.on("data", (d) => {
        reply += d.toString();
        socket.end();
      });
      socket.on("close", () => resolve(reply));
      socket.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""));
    });

  t.teardown(async () => {
    stopped = true;
    if (child?.pid !== undefined && child.signalCode === "SIGSTOP") process.kill(child.pid, "SIGCONT");
    await exit();
  });
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => child!.pid!,
    kill: exit,
    freeze: () => process.kill(child!.pid!, "SIGSTOP"),
    thaw: () => process.kill(child!.pid!, "SIGCONT"),
    restart: async () => {
      if (stopped) throw new Error("redis test server already torn down");
      await exit();
      await launch();
    },
    command,
  };
}
