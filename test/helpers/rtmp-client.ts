// Scripted raw RTMP client for tests and benches, written from Adobe's "Real-Time Messaging
// Protocol (RTMP) specification" 1.0 (2012); "§" numbers refer to it. It shares no code with
// node-media-server, so it checks NMS (and our edge) instead of agreeing with its bugs. It is
// also a tool for hostile input: every send is explicit, nothing is retried, raw bytes can be
// written, and server input never throws out of a socket handler.
import * as net from "node:net";
import * as tls from "node:tls";
import { randomBytes } from "node:crypto";
import { decodeAmf0, encodeAmf0, type Amf0Value } from "./amf0.js";
import { ChunkReader, chunkMessage, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MsgType, type RtmpMessage } from "./rtmp-chunk.js";

// The chunk layer lives in rtmp-chunk.ts (file size); tests import everything from here.
export { ChunkReader, chunkHeader, chunkMessage, MsgType } from "./rtmp-chunk.js";
export type { ChunkHeaderFields, RtmpMessage } from "./rtmp-chunk.js";

export interface RtmpStatus {
  code: string;
  description?: string;
  level?: string;
}
export interface MediaCounts {
  audio: { messages: number; bytes: number };
  video: { messages: number; bytes: number };
}
export interface ClientOptions {
  noDelay?: boolean; // default true
  allowHalfOpen?: boolean; // keep our side writable after the server's FIN (kick tests)
  queueMedia?: boolean; // default true; long benches pass false and read mediaCounts()
  autoRespond?: boolean; // default true: answer pings (§7.1.7), send acknowledgements (§5.4.3)
  timeoutMs?: number; // default wait for replies: 5000
  tls?: tls.ConnectionOptions; // RTMPS: connect() resolves after the TLS handshake with these options
}

const HANDSHAKE_SIZE = 1536; // C1/S1/C2/S2, §5.2.3
const S0S1S2_SIZE = 1 + 2 * HANDSHAKE_SIZE;

/** The info object of an onStatus command (§7.2.2), if `m` is one. */
export function statusOf(m: RtmpMessage): RtmpStatus | undefined {
  const info = m.amf?.[3];
  if (m.amf?.[0] !== "onStatus" || typeof info !== "object" || info === null || Array.isArray(info)) return undefined;
  if (info instanceof Date || typeof info.code !== "string") return undefined;
  const str = (v: Amf0Value) => (typeof v === "string" ? v : undefined);
  return { code: info.code, description: str(info.description), level: str(info.level) };
}

const isCommand = (m: RtmpMessage) => m.type === MsgType.CommandAmf0 || m.type === MsgType.CommandAmf3;

interface Waiter {
  filter: (m: RtmpMessage) => boolean;
  resolve: (m: RtmpMessage) => void;
  reject: (e: Error) => void;
}

export class RawRtmpClient {
  readonly closed: Promise<void>;
  private readonly reader = new ChunkReader((m) => this.onMessage(m));
  private readonly queue: RtmpMessage[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly statusLog: RtmpStatus[] = [];
  private readonly media: MediaCounts = { audio: { messages: 0, bytes: 0 }, video: { messages: 0, bytes: 0 } };
  private handshakeParts: Buffer[] | null = []; // null once S0S1S2 is complete
  private reply: Buffer | undefined;
  private chunkSize = DEFAULT_CHUNK_SIZE;
  private received = 0;
  private readonly ack = { window: 0, last: 0 }; // §5.4.3
  private transactionId = 0;
  private ended = false;
  private firstError: Error | undefined;
  private resolveClosed!: () => void;

  private constructor(
    readonly socket: net.Socket,
    private readonly host: string,
    private readonly port: number,
    private readonly opts: ClientOptions,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    socket.on("data", (d: Buffer) => this.onData(d));
    socket.on("end", () => this.finish()); // the server's FIN: no more messages can arrive
    socket.on("close", () => this.finish());
    socket.on("error", (e) => void (this.firstError ??= e)); // 'close' follows
  }

  /** TCP connect only; nothing is sent yet. */
  static connect(port: number, host = "127.0.0.1", opts: ClientOptions = {}): Promise<RawRtmpClient> {
    const { allowHalfOpen = false, noDelay = true } = opts;
    return new Promise((resolve, reject) => {
      const ready = () => {
        socket.off("error", reject);
        resolve(new RawRtmpClient(socket, host, port, opts));
      };
      const socket = opts.tls
        ? tls.connect({ port, host, ...opts.tls }, ready).setNoDelay(noDelay)
        : net.connect({ port, host, allowHalfOpen, noDelay }, ready);
      socket.once("error", reject);
    });
  }

  /** The first socket or protocol error; a protocol error ("RTMP parse error: …") closed the client. */
  get error(): Error | undefined {
    return this.firstError;
  }
  /** The server's S0+S1+S2 (3073 bytes), once complete. */
  get s0s1s2(): Buffer | undefined {
    return this.reply;
  }
  /** Chunk size of our sends (§5.4.1): 128 until setChunkSize() changes it. */
  get outChunkSize(): number {
    return this.chunkSize;
  }
  bytesReceived(): number {
    return this.received;
  }
  /** Every onStatus seen so far, in order, including ones a method already consumed. */
  statuses(): RtmpStatus[] {
    return this.statusLog.map((s) => ({ ...s }));
  }
  /** Audio/video messages received (counted even when queueMedia is false). */
  mediaCounts(): MediaCounts {
    return { audio: { ...this.media.audio }, video: { ...this.media.video } };
  }

  /** Raw bytes; resolves false instead of throwing when the socket is gone. */
  write(bytes: Buffer): Promise<boolean> {
    const s = this.socket;
    if (s.destroyed || !s.writable) return Promise.resolve(false);
    return new Promise((resolve) => s.write(bytes, (err) => resolve(!err)));
  }

  /** Simple handshake, §5.2.3-5.2.5: C0+C1, wait for S0+S1+S2, answer C2 = echo of S1. */
  async handshake(opts: { version?: number; c1?: Buffer } = {}): Promise<void> {
    // C1: time (4 bytes, 0), zero (4 bytes), random (1528 bytes).
    const c1 = opts.c1 ?? Buffer.concat([Buffer.alloc(8), randomBytes(HANDSHAKE_SIZE - 8)]);
    await this.write(Buffer.concat([Buffer.from([opts.version ?? 3]), c1]));
    // The reply is queued as a pseudo message, so tests that write C0+C1 themselves can await it too.
    const reply = await this.nextMessage((m) => m.type === MsgType.HandshakeReply).catch((e: Error) => {
      throw new Error(`handshake: ${e.message} after ${this.received} byte(s) of S0S1S2`);
    });
    await this.write(reply.payload.subarray(1, 1 + HANDSHAKE_SIZE));
  }

  /** One message, chunked with `chunkSize` (default: our current out chunk size). */
  async sendMessage(msg: { csid?: number; type: number; streamId?: number; timestamp?: number; payload: Buffer; chunkSize?: number }): Promise<boolean> {
    const { csid = 3, type, streamId = 0, timestamp = 0, payload, chunkSize = this.outChunkSize } = msg;
    return this.write(chunkMessage({ csid, type, streamId, timestamp, payload }, chunkSize));
  }

  /** AMF0 command message (type 20, §7.1.1) on csid 3. */
  sendCommand(name: string, transId: number, cmdObj: Amf0Value, ...args: Amf0Value[]): Promise<boolean> {
    return this.sendCommandOn(0, name, transId, cmdObj, ...args);
  }
  async sendCommandOn(streamId: number, name: string, transId: number, cmdObj: Amf0Value, ...args: Amf0Value[]): Promise<boolean> {
    const payload = encodeAmf0([name, transId, cmdObj, ...args]);
    return this.sendMessage({ csid: 3, type: MsgType.CommandAmf0, streamId, payload });
  }

  /**
   * Set Chunk Size (§5.4.1). Any 32-bit value goes on the wire (hostile tests send 0 or 2^31);
   * only a valid size (1..2^31-1) is adopted for our later sends.
   */
  async setChunkSize(n: number): Promise<boolean> {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(n >>> 0);
    const message = { csid: 2, type: MsgType.SetChunkSize, streamId: 0, timestamp: 0, payload };
    const bytes = chunkMessage(message, this.outChunkSize); // still in the old size
    if (Number.isInteger(n) && n >= 1 && n <= MAX_CHUNK_SIZE) this.chunkSize = n;
    return this.write(bytes);
  }

  /** connect (§7.2.1.1); resolves with the _result message, rejects on _error or close. */
  async connectApp(app: string, tcUrl?: string): Promise<RtmpMessage> {
    const tid = ++this.transactionId;
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    tcUrl ??= `rtmp://${host}:${this.port}/${app}`;
    const flashVer = "FMLE/3.0 (compatible; bintu-edge-test)";
    await this.sendCommand("connect", tid, { app, flashVer, tcUrl, type: "nonprivate" });
    return this.result(tid, "connect");
  }

  /** createStream (§7.2.1.3); resolves with the stream id from the _result. */
  async createStream(): Promise<number> {
    const tid = ++this.transactionId;
    await this.sendCommand("createStream", tid, null);
    const id = (await this.result(tid, "createStream")).amf?.[3];
    if (typeof id !== "number") throw new Error(`createStream: _result carries ${JSON.stringify(id)}, not a stream id`);
    return id;
  }

  /** publish (§7.2.2.6, transaction id 0); resolves with the first onStatus for that stream. */
  async publish(streamId: number, name: string): Promise<RtmpStatus> {
    await this.sendCommandOn(streamId, "publish", 0, null, name, "live");
    return this.status(streamId, () => true);
  }

  /** play (§7.2.2.1); resolves with the first onStatus that is not NetStream.Play.Reset. */
  async play(streamId: number, name: string): Promise<RtmpStatus> {
    await this.sendCommandOn(streamId, "play", 0, null, name);
    return this.status(streamId, (s) => s.code !== "NetStream.Play.Reset");
  }

  sendAudio(streamId: number, timestamp: number, payload: Buffer): Promise<boolean> {
    return this.sendMessage({ csid: 4, type: MsgType.Audio, streamId, timestamp, payload });
  }
  sendVideo(streamId: number, timestamp: number, payload: Buffer): Promise<boolean> {
    return this.sendMessage({ csid: 6, type: MsgType.Video, streamId, timestamp, payload });
  }

  /**
   * Takes the first queued (or next arriving) message that matches. Messages queued before a close
   * stay readable; when none matches, it rejects on close or after `timeoutMs`.
   */
  nextMessage(filter: (m: RtmpMessage) => boolean = () => true, timeoutMs = this.timeoutMs): Promise<RtmpMessage> {
    const i = this.queue.findIndex(filter);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    if (this.ended) return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => w.reject(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
      const done = () => {
        this.waiters.delete(w);
        clearTimeout(timer);
      };
      const w: Waiter = {
        filter,
        resolve: (m) => (done(), resolve(m)),
        reject: (e) => (done(), reject(e)),
      };
      this.waiters.add(w);
    });
  }

  destroy(): void {
    this.socket.destroy();
    this.finish();
  }

  // ---------------------------------------------------------------------------- internals

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? 5000;
  }

  private closedError(): Error {
    return new Error(this.firstError ? `closed (${this.firstError.message})` : "closed");
  }

  private async result(tid: number, what: string): Promise<RtmpMessage> {
    const reply = (x: RtmpMessage) => isCommand(x) && (x.amf?.[0] === "_result" || x.amf?.[0] === "_error") && x.amf[1] === tid;
    const m = await this.nextMessage(reply).catch((e: Error) => {
      throw this.ended ? new Error(`closed before ${what} _result`) : e;
    });
    if (m.amf?.[0] === "_error") throw new Error(`${what}: _error ${JSON.stringify(m.amf?.[3])}`);
    return m;
  }

  private async status(streamId: number, accept: (s: RtmpStatus) => boolean): Promise<RtmpStatus> {
    // NetConnection-level statuses arrive on stream 0.
    const onStream = (x: RtmpMessage) => isCommand(x) && !!statusOf(x) && (x.streamId === streamId || x.streamId === 0);
    for (;;) {
      const m = await this.nextMessage(onStream).catch((e: Error) => {
        throw this.ended ? new Error("closed before onStatus") : e;
      });
      if (accept(statusOf(m)!)) return statusOf(m)!;
    }
  }

  private onData(data: Buffer): void {
    if (this.socket.destroyed) return; // a parse error already closed us
    this.received += data.length;
    try {
      if (this.handshakeParts) {
        // Everything before S0S1S2 is complete belongs to it (§5.2.5: the server sends no chunk
        // before C2), so the bytes received before this read are all handshake bytes.
        const take = data.subarray(0, S0S1S2_SIZE - (this.received - data.length));
        this.handshakeParts.push(take);
        data = data.subarray(take.length);
        if (this.received - data.length < S0S1S2_SIZE) return;
        this.reply = Buffer.concat(this.handshakeParts);
        this.handshakeParts = null;
        this.onMessage({ csid: 0, type: MsgType.HandshakeReply, streamId: 0, timestamp: 0, payload: this.reply });
      }
      if (data.length > 0) this.reader.push(data);
      // §5.4.3: acknowledge each window's worth of received bytes.
      if (this.ack.window > 0 && this.received - this.ack.last >= this.ack.window && this.opts.autoRespond !== false) {
        this.ack.last = this.received;
        const seq = Buffer.alloc(4);
        seq.writeUInt32BE(this.received % 2 ** 32);
        void this.sendMessage({ csid: 2, type: MsgType.Ack, payload: seq });
      }
    } catch (e) {
      // Server input must never throw out of the socket handler: record it and close.
      this.firstError ??= new Error(`RTMP parse error: ${(e as Error).message}`);
      this.destroy();
    }
  }

  private onMessage(m: RtmpMessage): void {
    const t = m.type;
    if (t === MsgType.WindowAckSize && m.payload.length >= 4) this.ack.window = m.payload.readUInt32BE(0);
    // §7.1.7: user control event 6 (PingRequest) is answered by event 7 (PingResponse).
    const ping = t === MsgType.UserControl && m.payload.length >= 6 && m.payload.readUInt16BE(0) === 6;
    if (ping && this.opts.autoRespond !== false) {
      const pong = Buffer.concat([Buffer.from([0, 7]), m.payload.subarray(2, 6)]);
      void this.sendMessage({ csid: 2, type: t, payload: pong });
    }
    if (t === MsgType.Audio || t === MsgType.Video) {
      const c = t === MsgType.Audio ? this.media.audio : this.media.video;
      c.messages += 1;
      c.bytes += m.payload.length;
      if (this.opts.queueMedia === false) return;
    }
    if (t === MsgType.CommandAmf0 || t === MsgType.DataAmf0) m.amf = decodeAmf0(m.payload);
    // §7.1.1-7.1.2: AMF3-typed messages start with a format byte; the values after it are AMF0.
    if (t === MsgType.CommandAmf3 || t === MsgType.DataAmf3) m.amf = decodeAmf0(m.payload.subarray(1));
    const s = isCommand(m) ? statusOf(m) : undefined;
    if (s) this.statusLog.push(s);
    for (const w of this.waiters) {
      let match = false;
      try {
        match = w.filter(m);
      } catch (e) {
        w.reject(e as Error); // a test's filter bug, not a server fault
      }
      if (match) return w.resolve(m);
    }
    this.queue.push(m);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    for (const w of this.waiters) w.reject(this.closedError());
    this.resolveClosed();
  }
}

// ------------------------------------------------------------------------------ FLV-style media bodies

/** AAC sequence header (FLV AUDIODATA, AACPacketType 0): AAC LC, 44.1 kHz, stereo. */
export function aacSequenceHeader(): Buffer {
  // 0xAF: SoundFormat 10 (AAC), rate 3 (44 kHz), 16-bit, stereo. AudioSpecificConfig (ISO 14496-3
  // §1.6.2.1): objectType 2 (LC) | samplingFrequencyIndex 4 (44100) | channelConfiguration 2 | 000.
  return Buffer.from([0xaf, 0x00, 0x12, 0x10]);
}

/** Exp-Golomb fields as bit strings (H.264 §9.1): u(n) fixed width, ue unsigned, se signed. */
const u = (n: number, v: number) => v.toString(2).padStart(n, "0");
const ue = (v: number) => "0".repeat((v + 1).toString(2).length - 1) + (v + 1).toString(2);
const se = (v: number) => ue(v <= 0 ? -2 * v : 2 * v - 1);

/** NAL unit from RBSP bits: trailing bits, then emulation prevention bytes (H.264 §7.4.1). */
function nal(header: number, bits: string): Buffer {
  bits += "1".padEnd(8 - (bits.length % 8), "0");
  const out = [header];
  for (let i = 0, zeros = 0; i < bits.length; i += 8) {
    const byte = parseInt(bits.slice(i, i + 8), 2);
    const escape = zeros >= 2 && byte <= 3; // 00 00 0x needs an emulation_prevention_three_byte
    out.push(...(escape ? [3, byte] : [byte]));
    zeros = byte !== 0 ? 0 : escape ? 1 : zeros + 1;
  }
  return Buffer.from(out);
}

/**
 * AVC sequence header (FLV VIDEODATA, AVCPacketType 0) holding an AVCDecoderConfigurationRecord
 * (ISO 14496-15 §5.2.4.1) with a Constrained Baseline SPS for width x height (odd sizes round up
 * to even) and a matching PPS. Plausible, not guaranteed decodable.
 */
export function avcSequenceHeader(width: number, height: number): Buffer {
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= 16384;
  if (!ok(width) || !ok(height)) throw new RangeError(`size ${width}x${height} not in 1..16384`);
  const [mbW, mbH] = [Math.ceil(width / 16), Math.ceil(height / 16)];
  const [cropR, cropB] = [(mbW * 16 - width) >> 1, (mbH * 16 - height) >> 1]; // crop unit 2 (4:2:0)
  const level = mbW * mbH <= 3600 ? 31 : mbW * mbH <= 8192 ? 40 : 51; // H.264 Table A-1 MaxFS
  const sps = nal(
    0x67,
    [
      // H.264 §7.3.2.1.1; nal_ref_idc 3, type 7
      u(8, 66),
      u(8, 0xc0),
      u(8, level), // profile_idc Baseline, constraint_set0+1, level_idc
      ue(0),
      ue(0),
      ue(2), // sps id, log2_max_frame_num_minus4, pic_order_cnt_type 2
      ue(1),
      u(1, 0), // max_num_ref_frames, gaps_in_frame_num_allowed
      ue(mbW - 1),
      ue(mbH - 1),
      u(1, 1),
      u(1, 1), // size in macroblocks, frame_mbs_only, direct_8x8
      cropR || cropB ? u(1, 1) + ue(0) + ue(cropR) + ue(0) + ue(cropB) : u(1, 0), // frame cropping
      u(1, 0), // no VUI
    ].join(""),
  );
  const pps = nal(
    0x68,
    [
      // H.264 §7.3.2.2; type 8
      ue(0),
      ue(0),
      u(1, 0),
      u(1, 0),
      ue(0), // pps id, sps id, CAVLC, no field order, 1 slice group
      ue(0),
      ue(0),
      u(1, 0),
      u(2, 0), // ref idx defaults, no weighted prediction
      se(0),
      se(0),
      se(0), // pic_init_qp/qs, chroma_qp_index_offset
      u(1, 1),
      u(1, 0),
      u(1, 0), // deblocking control, no constrained intra, no redundant_pic_cnt
    ].join(""),
  );
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  return Buffer.concat([
    Buffer.from([0x17, 0x00, 0, 0, 0]), // keyframe | AVC, sequence header, composition time 0
    Buffer.from([1, ...sps.subarray(1, 4), 0xff, 0xe1]), // version, profile/compat/level, NALU length 4, 1 SPS
    u16(sps.length),
    sps,
    Buffer.from([1]),
    u16(pps.length),
    pps,
  ]);
}

/** AVC keyframe body (AVCPacketType 1) of exactly `size` bytes: one IDR slice NALU, position-dependent filler. */
export function avcKeyframe(size: number): Buffer {
  if (!Number.isInteger(size) || size < 10) throw new RangeError(`AVC frame size ${size} < 10`);
  const b = Buffer.alloc(size);
  b.set([0x17, 0x01, 0, 0, 0]); // keyframe | AVC, AVCPacketType 1 (NALU), composition time 0
  b.writeUInt32BE(size - 9, 5); // 4-byte NALU length, as announced in the configuration record
  b[9] = 0x65; // IDR slice
  for (let i = 10; i < size; i++) b[i] = (i * 131 + (i >> 8)) & 0xff; // chunk mix-ups show in compares
  return b;
}
