// RTMP chunk stream layer for the raw test client (rtmp-client.ts), written from Adobe's "Real-Time
// Messaging Protocol (RTMP) specification" 1.0 (2012); "§" numbers refer to it. Kept apart from
// the client so that unit tests and fuzzers can drive the de-chunker with bytes directly.
import type { Amf0Value } from "./amf0.js";

export interface RtmpMessage {
  csid: number;
  type: number;
  streamId: number;
  timestamp: number;
  payload: Buffer;
  /** Decoded body of AMF command/data messages (types 15, 17, 18, 20), set by the client. */
  amf?: Amf0Value[];
}

export interface ChunkHeaderFields {
  timestamp?: number;
  length?: number;
  type?: number;
  streamId?: number;
}

/** Message type ids: §5.4 protocol control, §6.2 user control, §7.1 RTMP messages. */
export const MsgType = {
  SetChunkSize: 1,
  Abort: 2,
  Ack: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  CommandAmf3: 17,
  DataAmf0: 18,
  CommandAmf0: 20,
  /** Not RTMP: the client queues the server's S0+S1+S2 as one pseudo message of this type. */
  HandshakeReply: -1,
} as const;

export const DEFAULT_CHUNK_SIZE = 128; // §5.4.1: each direction starts at 128
export const MAX_CHUNK_SIZE = 0x7fffffff; // §5.4.1: bit 31 must be zero
const MESSAGE_HEADER_SIZE = [11, 7, 3, 0]; // by chunk fmt, §5.3.1.2
const EXTENDED = 0xffffff; // timestamp field value announcing an extended timestamp, §5.3.1.3

// ------------------------------------------------------------------------------ writing

/** Basic header, §5.3.1.1: csid 2-63 in 1 byte, 64-319 in 2, 320-65599 in 3 (low byte first). */
function basicHeader(fmt: number, csid: number): Buffer {
  if (!Number.isInteger(csid) || csid < 2 || csid > 65599) throw new RangeError(`csid ${csid} not in 2..65599`);
  if (csid <= 63) return Buffer.from([(fmt << 6) | csid]);
  if (csid <= 319) return Buffer.from([fmt << 6, csid - 64]);
  return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
}

/**
 * Raw basic + message header of one chunk, plus the extended timestamp when timestamp >= 0xffffff.
 * For fmt 3 it is appended when such a timestamp is given: continuation chunks of an extended-
 * timestamp message repeat it (Flash, FFmpeg and NMS do; §5.3.1.3 is silent on type 3). Fields
 * are written as given, so tests can announce a 16 MiB message and then send 1 byte.
 */
export function chunkHeader(fmt: 0 | 1 | 2 | 3, csid: number, fields: ChunkHeaderFields = {}): Buffer {
  const { timestamp = 0, length = 0, type = 0, streamId = 0 } = fields;
  const size = MESSAGE_HEADER_SIZE[fmt];
  const extended = timestamp >= EXTENDED;
  const mh = Buffer.alloc(size + (extended ? 4 : 0));
  if (fmt <= 2) mh.writeUIntBE(Math.min(timestamp, EXTENDED), 0, 3); // timestamp (fmt 0) or delta (1, 2)
  if (fmt <= 1) {
    mh.writeUIntBE(length, 3, 3);
    mh.writeUInt8(type, 6);
  }
  if (fmt === 0) mh.writeUInt32LE(streamId, 7); // §5.3.1.2.1: the one little-endian field
  if (extended) mh.writeUInt32BE(timestamp, size);
  return Buffer.concat([basicHeader(fmt, csid), mh]);
}

/** One message as chunks, §5.3.2: a fmt 0 chunk, then fmt 3 chunks of at most `chunkSize` bytes. */
export function chunkMessage(msg: Omit<RtmpMessage, "amf">, chunkSize: number): Buffer {
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) {
    throw new RangeError(`chunk size ${chunkSize} not in 1..${MAX_CHUNK_SIZE}`);
  }
  const { csid, timestamp, payload } = msg;
  const parts = [chunkHeader(0, csid, { ...msg, length: payload.length })];
  for (let off = 0; off < payload.length; off += chunkSize) {
    if (off > 0) parts.push(chunkHeader(3, csid, { timestamp }));
    parts.push(payload.subarray(off, off + chunkSize));
  }
  return Buffer.concat(parts);
}

// ------------------------------------------------------------------------------ reading

interface ChunkStream {
  timestamp: number; // of the last message started on this csid
  delta: number; // what a fmt 3 chunk starting a new message adds to `timestamp`
  length: number;
  type: number;
  streamId: number;
  extended: boolean; // the last fmt 0-2 header used 0xffffff, so fmt 3 chunks carry 4 more bytes
  parts: Buffer[] | null; // non-null while a message is being reassembled
  got: number;
}

/**
 * Incremental de-chunker (§5.3). Per-csid state changes only once a whole chunk (header and its
 * payload slice) is buffered, so input may be split anywhere. Set Chunk Size and Abort (§5.4.1-2)
 * act here, before the next chunk is read. Throws an Error on a protocol violation; the owner
 * decides what that means (the client closes itself).
 */
export class ChunkReader {
  chunkSize = DEFAULT_CHUNK_SIZE;
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private need = 1; // bytes required before the next parse attempt can progress
  private readonly streams = new Map<number, ChunkStream>();

  constructor(private readonly onMessage: (m: RtmpMessage) => void) {}

  push(data: Buffer): void {
    this.pending.push(data);
    this.pendingLength += data.length;
    while (this.pendingLength >= this.need) {
      // Concatenate only when a whole chunk may be there: a 64 KiB chunk arriving in 1 KiB reads
      // is copied once, not 64 times.
      const buf = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingLength);
      const used = this.parseChunk(buf);
      this.pending = [buf.subarray(used)];
      this.pendingLength = buf.length - used;
      if (used > 0) this.need = 1;
    }
  }

  /** Parses one chunk at the start of `buf`; returns the bytes used, or 0 after raising `need`. */
  private parseChunk(buf: Buffer): number {
    const fmt = buf[0] >> 6;
    let csid = buf[0] & 0x3f;
    const p = csid === 0 ? 2 : csid === 1 ? 3 : 1; // §5.3.1.1: 0 and 1 select the longer forms
    if (buf.length < p) return this.wait(p);
    if (p > 1) csid = 64 + buf[1] + (p === 3 ? buf[2] * 256 : 0);
    let q = p + MESSAGE_HEADER_SIZE[fmt];
    if (buf.length < q) return this.wait(q);
    const cs = this.streams.get(csid);
    if (fmt !== 0 && !cs) throw new Error(`fmt ${fmt} chunk on csid ${csid} before any fmt 0 header`);
    if (fmt !== 3 && cs?.parts) throw new Error(`fmt ${fmt} header on csid ${csid} inside an unfinished message`);
    const field = fmt <= 2 ? buf.readUIntBE(p, 3) : 0;
    const extended = fmt <= 2 ? field === EXTENDED : cs!.extended;
    if (extended) q += 4;
    if (buf.length < q) return this.wait(q);
    const time = extended ? buf.readUInt32BE(q - 4) : field; // not used by continuation chunks
    const length = fmt <= 1 ? buf.readUIntBE(p + 3, 3) : cs!.length;
    const n = Math.min(this.chunkSize, length - (cs?.parts ? cs.got : 0));
    if (buf.length < q + n) return this.wait(q + n);

    // The whole chunk is here: commit.
    const st = cs ?? { timestamp: 0, delta: 0, length: 0, type: 0, streamId: 0, extended: false, parts: null, got: 0 };
    this.streams.set(csid, st);
    if (!st.parts) {
      // A new message. §5.3.1.2.4: fmt 3 right after fmt 0 implies a delta equal to its timestamp.
      if (fmt <= 2) st.delta = time;
      st.timestamp = fmt === 0 ? time : (st.timestamp + st.delta) % 2 ** 32; // timestamps wrap at 2^32
      if (fmt === 0) st.streamId = buf.readUInt32LE(p + 7);
      if (fmt <= 1) st.length = length;
      if (fmt <= 1) st.type = buf[p + 6];
      if (fmt <= 2) st.extended = extended;
      st.parts = [];
      st.got = 0;
    }
    st.parts.push(buf.subarray(q, q + n));
    st.got += n;
    if (st.got === st.length) {
      const payload = Buffer.concat(st.parts, st.length); // a copy: never alias socket buffers
      st.parts = null;
      this.deliver({ csid, type: st.type, streamId: st.streamId, timestamp: st.timestamp, payload });
    }
    return q + n;
  }

  private wait(total: number): number {
    this.need = total;
    return 0;
  }

  private deliver(m: RtmpMessage): void {
    if (m.type === MsgType.SetChunkSize || m.type === MsgType.Abort) {
      if (m.payload.length < 4) throw new Error(`control message type ${m.type} with a ${m.payload.length}-byte body`);
      const value = m.payload.readUInt32BE(0);
      if (m.type === MsgType.SetChunkSize) {
        if (value < 1 || value > MAX_CHUNK_SIZE) {
          throw new Error(`Set Chunk Size ${value} outside 1..${MAX_CHUNK_SIZE}`);
        }
        this.chunkSize = value;
      } else {
        const aborted = this.streams.get(value); // §5.4.2: drop the partial message on that csid
        if (aborted) aborted.parts = null;
      }
    }
    this.onMessage(m);
  }
}
