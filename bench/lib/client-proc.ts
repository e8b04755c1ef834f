// Load generators run as their own Node processes (bench/clients/*), so the server's CPU is
// not mixed with the clients' and the clients' CPU can be reported. Parent and child talk
// over the IPC channel: the child sends {type:"ready"} once its connections are up, answers
// {type:"stats"} requests, and exits on {type:"stop"}.
import { fork, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface ReadyMsg {
  type: "ready";
  ok: number;
  failed: number;
  errors: string[];
}
export interface StatsMsg {
  type: "stats";
  /** Bytes per connection so far (received for players, written for publishers). */
  bytes: number[];
  alive: number;
  /** Publishers: largest socket write backlog seen (bytes) and worst send lag (ms) since start. */
  maxBacklog?: number;
  maxLagMs?: number;
}

export interface ClientProc {
  pid: number;
  ready: Promise<ReadyMsg>;
  stats(): Promise<StatsMsg>;
  stop(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url)); // bench/.build/bench/lib when compiled

export function startClient(script: "players" | "publishers", config: object): ClientProc {
  const child: ChildProcess = fork(join(here, "..", "clients", `${script}.js`), [JSON.stringify(config)], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let statsWaiter: ((m: StatsMsg) => void) | undefined;
  const ready = new Promise<ReadyMsg>((resolve, reject) => {
    child.on("message", (m: ReadyMsg | StatsMsg) => {
      if (m.type === "ready") resolve(m);
      else if (m.type === "stats") statsWaiter?.(m);
    });
    void exited.then((code) => reject(new Error(`${script} client exited (${code}) before ready`)));
  });
  ready.catch(() => undefined); // observed by the caller; avoid an unhandled rejection on late exits
  return {
    pid: child.pid!,
    ready,
    stats() {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${script} client: no stats reply`)), 5000);
        statsWaiter = (m) => {
          clearTimeout(timer);
          statsWaiter = undefined;
          resolve(m);
        };
        child.send({ type: "stats" });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.send({ type: "stop" });
        const killer = setTimeout(() => child.kill("SIGKILL"), 3000); // this child's PID only
        await exited;
        clearTimeout(killer);
      }
    },
  };
}
