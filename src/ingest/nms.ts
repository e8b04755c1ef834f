// Typed access to the parts of node-media-server 4.4.3 the adapter drives. NMS ships no types
// (and @types/node-media-server describes v2), so the subset used is declared here. These are
// internals: the version is pinned exactly in package.json and patched (patches/), and
// test/ingest/* exercise every member used below.
import { createRequire } from "node:module";
import type { Socket } from "node:net";

const require = createRequire(import.meta.url);

export interface NmsPacket {
  codec_type: number;
  flags: number;
  size: number;
  data: Buffer;
}

export interface NmsRtmpLimits {
  maxMessageSize: number;
  maxBufferedBytes: number;
  maxChunkStreams: number;
  maxChunkSize: number;
}

/** A decoded AMF0 command as NMS hands it to onConnect / onPublish / onPlay. */
export interface NmsCommand {
  cmd: string;
  transId: number;
  cmdObj?: unknown;
  streamName?: unknown;
}

export interface NmsRtmpProtocol {
  onCreateStream(msg: NmsCommand): void;
  limits: NmsRtmpLimits;
  streamApp: string;
  streamName: string;
  streamQuery: Record<string, string>;
  streamId: number;
  parserPacket: { header: { stream_id: number } };
  onConnectCallback: (req: { app: string; name: string; host: string; query: Record<string, string> }) => void;
  onPlayCallback: () => void;
  onPushCallback: () => void;
  onOutputCallback: (buf: Buffer) => void;
  onPacketCallback: (pkt: NmsPacket) => void;
  onConnect(msg: NmsCommand): void;
  onPublish(msg: NmsCommand): void;
  onPlay(msg: NmsCommand): void;
  respondPublish(): void;
  respondPlay(): void;
  sendStatusMessage(streamId: number, level: string, code: string, description: string): void;
}

/** What BroadcastServer needs of a subscriber (NMS's BaseSession, structurally). */
export interface NmsSubscriber {
  id: string;
  ip: string;
  protocol: "rtmp" | "flv";
  streamPath: string;
  sendBuffer: (buf: Buffer) => void;
  close: () => void;
}

/** An FLV tag as NMS's parser hands it (`data` aliases the parser's buffer until the callback returns). */
export interface NmsAvPacket extends NmsPacket {
  dts: number;
  pts: number;
}

/** NMS's FLV demuxer (protocol/flv.js): bytes in, one packet per complete tag out. */
export interface NmsFlvParser {
  onPacketCallback: (pkt: NmsAvPacket) => void;
  /** An error text when the stream is not FLV (a tag's trailing size does not match). */
  parserData(buf: Buffer): string | null;
}

/** What BroadcastServer reads of the session it is given as a publisher. */
export interface NmsPublisher {
  id: string;
  ip: string;
  protocol: "rtmp" | "flv";
  streamPath: string;
  playCount: number;
}

export interface NmsBroadcast {
  publisher: unknown;
  subscribers: Map<string, NmsSubscriber>;
  publishGraceMs: number;
  maxGopCacheBytes: number;
  /** The cached GOP as FLV tags (read by a test of the bound). */
  flvGopCache: Set<Buffer> | null;
  postPlay(session: NmsSubscriber): string | null;
  donePlay(session: NmsSubscriber): void;
  /** Null when the session became the publisher, else why not (another publisher holds the path). */
  postPublish(session: NmsPublisher): string | null;
  donePublish(session: NmsPublisher): void;
  /** Ends the publish now (what the grace timer runs): caches cleared, the hub unregistered when nobody watches. */
  _finishPublish(): void;
  broadcastMessage(packet: NmsAvPacket): void;
}

export interface NmsRtmpSession extends NmsSubscriber {
  socket: Socket;
  rtmp: NmsRtmpProtocol;
  broadcast: NmsBroadcast;
  isPublisher: boolean;
  inBytes: number;
  outBytes: number;
  onConnect: NmsRtmpProtocol["onConnectCallback"];
  onPlay: () => void;
  onPush: () => void;
  onOutput: (buf: Buffer) => void;
  onPacket: (pkt: NmsPacket) => void;
  onData: (data: Buffer) => void;
  onClose: () => void;
}

interface NmsContext {
  config: Record<string, unknown>;
  broadcasts: Map<string, NmsBroadcast>;
}

const Context = require("node-media-server/src/core/context.js") as NmsContext;
const RtmpSessionClass = require("node-media-server/src/session/rtmp_session.js") as new (socket: Socket) => NmsRtmpSession;
const BroadcastServerClass = require("node-media-server/src/server/broadcast_server.js") as new (path: string) => NmsBroadcast;
const FlvClass = require("node-media-server/src/protocol/flv.js") as new () => NmsFlvParser;
const nmsLogger = require("node-media-server/src/core/logger.js") as { log: (message: string, level?: string) => void };

// NMS's own logger writes through console.log — every connection at info level, and an error line
// for each unknown AMF command or field a client sends (a log flood on demand). The adapter logs
// what matters, with codes; NMS's console output is switched off.
nmsLogger.log = () => {};
// No NMS auth/notify/record: the edge decides everything itself. NMS reads this object directly.
Context.config = {};

export const nms = {
  createRtmpSession: (socket: Socket): NmsRtmpSession => new RtmpSessionClass(socket),
  broadcastOf: (streamPath: string): NmsBroadcast | undefined => Context.broadcasts.get(streamPath),
  /** The path's broadcast hub, created and registered when there is none (what a publishing session does). */
  openBroadcast: (streamPath: string): NmsBroadcast => {
    const broadcast = Context.broadcasts.get(streamPath) ?? new BroadcastServerClass(streamPath);
    Context.broadcasts.set(streamPath, broadcast);
    return broadcast;
  },
  createFlvParser: (): NmsFlvParser => new FlvClass(),
  /** Live broadcast hubs in this process; a test checks it drains to zero. */
  broadcastCount: (): number => Context.broadcasts.size,
};
