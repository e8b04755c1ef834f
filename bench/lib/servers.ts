// The servers under test, each started as its own child process (so /proc figures are its own)
// on 127.0.0.1 only, and stopped by PID: the edge (built CLI), node-media-server 4.4.3
// unpatched (bench/servers/nms-plain.cjs), nginx-rtmp (Debian libnginx-mod-rtmp, one process).
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root: the nearest directory above this file whose package.json is bintu-edge. */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "bintu-edge") return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("bench: project root (package.json of bintu-edge) not found");
    dir = up;
  }
})();
export const VENDOR = join(ROOT, "bench", ".vendor");
export const MEDIA_FLV = join(VENDOR, "media.flv");

export type ServerKind = "edge" | "nms" | "nms-nodelay" | "nginx";

export const LABELS: Record<ServerKind, string> = {
  edge: "edge (bintu-edge)",
  nms: "NMS 4.4.3 unpatched, no hooks (Nagle, as shipped)",
  "nms-nodelay": "NMS 4.4.3 unpatched + setNoDelay",
  nginx: "nginx-rtmp (1 process)",
};

export interface Server {
  kind: ServerKind;
  pid: number;
  rtmpPort: number;
  /** HTTP-FLV port; undefined for nginx-rtmp (the module has no HTTP-FLV). */
  httpPort: number | undefined;
  /** Edge with TLS: the RTMPS port (its playback and API ports then speak HTTPS). */
  rtmpsPort?: number;
  /** The edge's control API: port and admin key (edge only). */
  api?: { port: number; key: string };
  /** A stream name this server accepts for publish (edge: a new registry stream's key). */
  newStreamName(): Promise<string>;
  /** New names for `n` publishers. */
  newStreamNames(n: number): Promise<string[]>;
  /** Lines the server printed beyond its ready line (warnings, errors). */
  logLines(): string[];
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (for servers that cannot bind port 0 themselves). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function nginxAvailable(): { ok: boolean; why?: string } {
  const bin = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => existsSync(p));
  if (!bin) return { ok: false, why: "nginx not installed (run bench/setup.sh; Debian: nginx libnginx-mod-rtmp)" };
  if (!existsSync(NGINX_RTMP_MODULE)) return { ok: false, why: `${NGINX_RTMP_MODULE} missing (Debian: libnginx-mod-rtmp)` };
  return { ok: true };
}
const NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

export function nmsAvailable(): { ok: boolean; why?: string } {
  if (!existsSync(join(VENDOR, "nms", "node_modules", "express"))) return { ok: false, why: "pristine NMS missing: run sh bench/setup.sh" };
  return { ok: true };
}

export interface Child {
  child: ChildProcess;
  lines: string[];
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

// Every server a bench starts is killed by its own PID when the bench exits, however it exits.
const running = new Set<ChildProcess>();
export function killChildren(): void {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}
process.on("exit", killChildren);

/** Stops every child on Ctrl-C / SIGTERM and after `limitS` seconds, whatever the bench is doing. */
export function boundBench(name: string, limitS: number): void {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      killChildren();
      process.exit(130);
    });
  }
  setTimeout(() => {
    console.error(`\n${name}: time limit of ${limitS} s reached; stopping the servers`);
    killChildren();
    process.exit(1);
  }, limitS * 1000).unref();
}

/** Spawns a server; its output goes to `logFile` and is kept (last 200 lines) for reports. */
export function startChild(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string }): Child {
  const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const log = createWriteStream(opts.logFile);
  const lines: string[] = [];
  let out = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    log.write(d);
    out += d.toString();
    const parts = out.split("\n");
    out = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      if (lines.length > 200) lines.shift();
    }
    for (const f of listeners) f();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    lines,
    waitFor(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (const l of lines) {
            const m = re.exec(l);
            if (m) return done(() => resolve(m));
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            done(() => reject(new Error(`${cmd} exited (${child.exitCode ?? child.signalCode}): ${lines.slice(-10).join("\n")}`)));
          }
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${cmd}: not ready after ${timeoutMs} ms: ${lines.slice(-10).join("\n")}`))), timeoutMs);
        const onExit = () => check();
        const done = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off("exit", onExit);
          f();
        };
        listeners.add(check);
        child.on("exit", onExit);
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM"); // this child's PID only
        const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(killer);
      }
      await new Promise<void>((r) => log.end(() => r()));
    },
  };
}

function waitTcp(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect({ port, host: "127.0.0.1" });
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

let seq = 0;
const randomName = (kind: string) => `bench${kind.replace(/[^a-z]/g, "")}${process.pid}x${++seq}`;

/** Temp dir for one server instance; removed at stop unless BENCH_KEEP=1. */
function workDir(kind: string): string {
  return mkdtempSync(join(tmpdir(), `bintu-bench-${kind}-`));
}

/**
 * Edge environment: defaults of the product, except limits that would refuse the bench's own
 * load from one address (maxConnectionsPerIp defaults to 50). EDGE_* variables in the bench's
 * environment are passed through and win.
 */
const EDGE_BENCH_ENV: Record<string, string> = {
  EDGE_RTMP_LIMITS_MAX_CONNECTIONS_PER_IP: "100000",
  EDGE_RTMP_LIMITS_MAX_CONNECTIONS: "100000",
  // Every bench client is 127.0.0.1: the playback port's per-address cap (issue 18) would stop it at 50.
  EDGE_PLAYBACK_MAX_CONNECTIONS_PER_IP: "100000",
  EDGE_PLAYBACK_MAX_CONNECTIONS: "100000",
};

/** POST /stream over HTTPS, trusting `ca` (an edge with TLS on). */
function httpsPost(url: string, headers: Record<string, string>, body: string, ca: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: "POST", headers, ca }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Starts a server under test; `env` adds EDGE_* settings for the edge (the bench's own EDGE_* still
 * win). `ca`: the edge runs with TLS (EDGE_TLS_* in env) and its API is reached over HTTPS trusting it.
 */
export async function startServer(kind: ServerKind, env: Record<string, string> = {}, opts: { ca?: string } = {}): Promise<Server> {
  const dir = workDir(kind);
  const logFile = join(dir, "server.log");
  const cleanup = () => {
    if (process.env.BENCH_KEEP !== "1") rmSync(dir, { recursive: true, force: true });
  };
  if (kind === "edge") {
    const cli = join(ROOT, "dist", "cli.js");
    if (!existsSync(cli)) throw new Error("dist/cli.js missing: run npm run build");
    const c = startChild(process.execPath, [cli], {
      cwd: dir,
      logFile,
      env: {
        ...process.env,
        EDGE_DATA_DIR: join(dir, "data"),
        EDGE_RTMP_PORT: "0",
        EDGE_PLAYBACK_PORT: "0",
        EDGE_API_PORT: "0",
        EDGE_RTMP_HOST: "127.0.0.1",
        EDGE_PLAYBACK_HOST: "127.0.0.1",
        EDGE_API_HOST: "127.0.0.1",
        EDGE_LOG_LEVEL: "warn",
        ...EDGE_BENCH_ENV,
        ...env,
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("EDGE_"))),
      },
    });
    let m: RegExpExecArray;
    try {
      m = await c.waitFor(/bintu-edge ready: rtmp (\d+), playback (\d+), api (\d+)(?:, rtmps (\d+))?/, 15_000);
    } catch (e) {
      await c.stop();
      cleanup();
      throw e;
    }
    const [rtmpPort, httpPort, apiPort] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const rtmpsPort = m[4] ? Number(m[4]) : undefined;
    // A remote-mode edge writes no key file: its admin key is the remote bintu's, given in env.
    const apiKey = env.EDGE_BINTU_APIKEY ?? readFileSync(join(dir, "data", "bintu-apikey"), "utf8").trim();
    const create = async () => {
      const headers = { "X-BINTU-APIKEY": apiKey, "content-type": "application/json" };
      let res: { status: number; text: string };
      if (opts.ca) res = await httpsPost(`https://127.0.0.1:${apiPort}/stream`, headers, "{}", opts.ca);
      else {
        const r = await fetch(`http://127.0.0.1:${apiPort}/stream`, { method: "POST", headers, body: "{}" });
        res = { status: r.status, text: await r.text() };
      }
      if (res.status !== 200) throw new Error(`edge POST /stream: ${res.status} ${res.text}`);
      const body = JSON.parse(res.text) as { ingest: { rtmp: { streamname: string } } };
      return body.ingest.rtmp.streamname;
    };
    const startIdx = c.lines.length;
    return {
      kind,
      pid: c.child.pid!,
      rtmpPort,
      httpPort,
      ...(rtmpsPort ? { rtmpsPort } : {}),
      api: { port: apiPort, key: apiKey },
      newStreamName: create,
      async newStreamNames(n) {
        const out: string[] = [];
        for (let i = 0; i < n; i++) out.push(await create());
        return out;
      },
      logLines: () => c.lines.slice(startIdx).filter((l) => !/ready:|API key|^[A-Za-z0-9_-]{20,}$/.test(l)),
      async stop() {
        await c.stop();
        cleanup();
      },
    };
  }

  if (kind === "nms" || kind === "nms-nodelay") {
    const [rtmpPort, httpPort] = [await freePort(), await freePort()];
    const c = startChild(process.execPath, [join(ROOT, "bench", "servers", "nms-plain.cjs")], {
      cwd: dir,
      logFile,
      env: { ...process.env, NMS_RTMP_PORT: String(rtmpPort), NMS_HTTP_PORT: String(httpPort), NMS_NODELAY: kind === "nms-nodelay" ? "1" : "0" },
    });
    try {
      await c.waitFor(/nms-plain ready/, 15_000);
    } catch (e) {
      await c.stop();
      cleanup();
      throw e;
    }
    const startIdx = c.lines.length;
    return {
      kind,
      pid: c.child.pid!,
      rtmpPort,
      httpPort,
      newStreamName: async () => randomName(kind),
      newStreamNames: async (n) => Array.from({ length: n }, () => randomName(kind)),
      logLines: () => c.lines.slice(startIdx),
      async stop() {
        await c.stop();
        cleanup();
      },
    };
  }

  // nginx-rtmp: master_process off, so the one process is the worker that serves RTMP.
  const rtmpPort = await freePort();
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `# generated by bench/lib/servers.ts
load_module ${NGINX_RTMP_MODULE};
daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 10000; }
rtmp {
  server {
    listen 127.0.0.1:${rtmpPort};
    application live { live on; }
  }
}
`,
  );
  const c = startChild("nginx", ["-p", dir, "-c", conf, "-e", join(dir, "error.log")], { cwd: dir, logFile, env: process.env });
  try {
    await waitTcp(rtmpPort, 10_000);
  } catch (e) {
    await c.stop();
    cleanup();
    throw e;
  }
  return {
    kind,
    pid: c.child.pid!,
    rtmpPort,
    httpPort: undefined,
    newStreamName: async () => randomName(kind),
    newStreamNames: async (n) => Array.from({ length: n }, () => randomName(kind)),
    logLines: () => {
      try {
        return [
          ...c.lines,
          ...readFileSync(join(dir, "error.log"), "utf8")
            .split("\n")
            .filter((l) => l && !/\[notice\]/.test(l)),
        ];
      } catch {
        return c.lines;
      }
    },
    async stop() {
      await c.stop();
      cleanup();
    },
  };
}

export function available(kind: ServerKind): { ok: boolean; why?: string } {
  if (kind === "nginx") return nginxAvailable();
  if (kind === "nms" || kind === "nms-nodelay") return nmsAvailable();
  return existsSync(join(ROOT, "dist", "cli.js")) ? { ok: true } : { ok: false, why: "dist/cli.js missing: npm run build" };
}
