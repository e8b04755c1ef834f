// N players of one stream in one process: HTTP-FLV (plain sockets: a GET, then read and discard)
// or RTMP (the raw test client's play, media counted but not queued). Run by bench/fanout.ts
// through bench/lib/client-proc.ts; config is argv[2] as JSON.
import * as net from "node:net";
import * as tls from "node:tls";
import { RawRtmpClient } from "../../test/helpers/rtmp-client.js";
import type { ReadyMsg, StatsMsg } from "../lib/client-proc.js";

interface Config {
  proto: "flv" | "rtmp";
  host: string;
  port: number;
  app: string;
  name: string;
  count: number;
  concurrency?: number;
  /** HTTPS-FLV / RTMPS (bench/tls.ts): the CA that signed the server's certificate, PEM. */
  ca?: string;
}

interface Player {
  bytes(): number;
  alive(): boolean;
  close(): void;
}

const cfg = JSON.parse(process.argv[2]) as Config;

function flvPlayer(): Promise<Player> {
  return new Promise((resolve, reject) => {
    const socket: net.Socket = cfg.ca
      ? tls.connect({ port: cfg.port, host: cfg.host, ca: cfg.ca, servername: "localhost" }).setNoDelay(true)
      : net.connect({ port: cfg.port, host: cfg.host, noDelay: true });
    let bytes = 0;
    let head = "";
    let started = false;
    let alive = true;
    const player: Player = { bytes: () => bytes, alive: () => alive, close: () => socket.destroy() };
    const timer = setTimeout(() => fail(new Error("no HTTP response in 10 s")), 10_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    socket.on(cfg.ca ? "secureConnect" : "connect", () => {
      socket.write(`GET /${cfg.app}/${cfg.name}.flv HTTP/1.1\r\nHost: ${cfg.host}:${cfg.port}\r\nUser-Agent: bintu-bench\r\nAccept: */*\r\n\r\n`);
    });
    socket.on("data", (d: Buffer) => {
      bytes += d.length;
      if (started) return;
      head += d.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      const status = head.slice(0, head.indexOf("\r\n"));
      if (!/^HTTP\/1\.[01] 200/.test(status)) return fail(new Error(status));
      started = true;
      clearTimeout(timer);
      resolve(player);
    });
    socket.on("error", (e) => (started ? undefined : fail(e)));
    socket.on("close", () => {
      alive = false;
      if (!started) fail(new Error("closed before the HTTP response"));
    });
  });
}

async function rtmpPlayer(): Promise<Player> {
  const c = await RawRtmpClient.connect(cfg.port, cfg.host, {
    queueMedia: false,
    timeoutMs: 10_000,
    ...(cfg.ca ? { tls: { ca: cfg.ca, servername: "localhost" } } : {}),
  });
  let alive = true;
  void c.closed.then(() => (alive = false));
  try {
    await c.handshake();
    await c.connectApp(cfg.app);
    const sid = await c.createStream();
    const st = await c.play(sid, cfg.name);
    if (st.code !== "NetStream.Play.Start") throw new Error(st.code);
  } catch (e) {
    c.destroy();
    throw e;
  }
  return { bytes: () => c.bytesReceived(), alive: () => alive, close: () => c.destroy() };
}

async function main(): Promise<void> {
  const players: Player[] = [];
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < cfg.count) {
      next++;
      try {
        players.push(await (cfg.proto === "flv" ? flvPlayer() : rtmpPlayer()));
      } catch (e) {
        failed++;
        if (errors.length < 5) errors.push((e as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.count, cfg.concurrency ?? 20) }, worker));
  process.send!({ type: "ready", ok: players.length, failed, errors } satisfies ReadyMsg);
  process.on("message", (m: { type: string }) => {
    if (m.type === "stats") {
      process.send!({ type: "stats", bytes: players.map((p) => p.bytes()), alive: players.filter((p) => p.alive()).length } satisfies StatsMsg);
    } else if (m.type === "stop") {
      for (const p of players) p.close();
      process.exit(0);
    }
  });
}

process.on("disconnect", () => process.exit(0)); // the bench went away
void main();
