// N publishers in one process, each replaying the tags of an FLV file (bench/.vendor/media.flv,
// ~1 Mbit/s) at real time over raw RTMP with the test client's sendAudio/sendVideo, looping
// the file with continuing timestamps. Much cheaper than N ffmpeg processes (docs/node-media-server.md §8b:
// ffmpeg costs ~1% CPU and 54 MB each). Chunk size 4096, as ffmpeg and OBS send.
// Run by bench/fanout.ts through bench/lib/client-proc.ts; config is argv[2] as JSON.
import { encodeAmf0 } from "../../test/helpers/amf0.js";
import { MsgType, RawRtmpClient } from "../../test/helpers/rtmp-client.js";
import type { ReadyMsg, StatsMsg } from "../lib/client-proc.js";
import { readFlv, type FlvTag } from "../lib/flv.js";

interface Config {
  host: string;
  port: number;
  app: string;
  names: string[];
  flv: string;
  chunkSize?: number;
  concurrency?: number;
}

interface Publisher {
  client: RawRtmpClient;
  streamId: number;
  start: number; // performance.now() of its first tag
  idx: number;
  offset: number; // ms added to file timestamps (loops)
  loops: number;
  alive: boolean;
}

const cfg = JSON.parse(process.argv[2]) as Config;
const { tags, durationMs } = readFlv(cfg.flv);
const SET_DATA_FRAME = encodeAmf0(["@setDataFrame"]);
let maxBacklog = 0;
let maxLagMs = 0;

async function connect(name: string): Promise<Publisher> {
  const client = await RawRtmpClient.connect(cfg.port, cfg.host, { queueMedia: false, timeoutMs: 10_000 });
  try {
    await client.handshake();
    await client.setChunkSize(cfg.chunkSize ?? 4096);
    await client.connectApp(cfg.app);
    const streamId = await client.createStream();
    const st = await client.publish(streamId, name);
    if (st.code !== "NetStream.Publish.Start") throw new Error(st.code);
    const p: Publisher = { client, streamId, start: performance.now(), idx: 0, offset: 0, loops: 0, alive: true };
    void client.closed.then(() => (p.alive = false));
    return p;
  } catch (e) {
    client.destroy();
    throw e;
  }
}

function send(p: Publisher, tag: FlvTag, ts: number): void {
  if (tag.type === 8) void p.client.sendAudio(p.streamId, ts, tag.data);
  else if (tag.type === 9) void p.client.sendVideo(p.streamId, ts, tag.data);
  else void p.client.sendMessage({ csid: 5, type: MsgType.DataAmf0, streamId: p.streamId, timestamp: ts, payload: Buffer.concat([SET_DATA_FRAME, tag.data]) });
}

/** Sends every tag that is due; a publisher behind schedule catches up in one burst. */
function pump(active: Publisher[]): void {
  const now = performance.now();
  for (const p of active) {
    if (!p.alive) continue;
    const elapsed = now - p.start;
    for (;;) {
      const tag = tags[p.idx];
      const ts = tag.timestamp + p.offset;
      if (ts > elapsed) break;
      if (!(tag.header && p.loops > 0)) {
        maxLagMs = Math.max(maxLagMs, elapsed - ts);
        send(p, tag, ts);
      }
      if (++p.idx === tags.length) {
        p.idx = 0;
        p.offset += durationMs;
        p.loops++;
      }
    }
    maxBacklog = Math.max(maxBacklog, p.client.socket.writableLength);
  }
}

async function main(): Promise<void> {
  const active: Publisher[] = [];
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  const timer = setInterval(() => pump(active), 10);
  const worker = async () => {
    while (next < cfg.names.length) {
      const name = cfg.names[next++];
      try {
        active.push(await connect(name));
      } catch (e) {
        failed++;
        if (errors.length < 5) errors.push(`${name}: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.names.length, cfg.concurrency ?? 10) }, worker));
  maxLagMs = 0; // lag while connecting the others is not the steady state
  process.send!({ type: "ready", ok: active.length, failed, errors } satisfies ReadyMsg);
  process.on("message", (m: { type: string }) => {
    if (m.type === "stats") {
      process.send!({
        type: "stats",
        bytes: active.map((p) => p.client.socket.bytesWritten),
        alive: active.filter((p) => p.alive).length,
        maxBacklog,
        maxLagMs,
      } satisfies StatsMsg);
      maxBacklog = 0;
      maxLagMs = 0;
    } else if (m.type === "stop") {
      clearInterval(timer);
      for (const p of active) p.client.destroy();
      process.exit(0);
    }
  });
}

process.on("disconnect", () => process.exit(0)); // the bench went away
void main();
