// Self-test of the raw RTMP client. The protocol flow runs against node-media-server used as a
// plain server (one RtmpSession per socket, none of the rest of NMS), so the client is checked by
// an implementation it shares no code with. Chunk parsing edge cases NMS never produces (small
// server chunk sizes, 2/3-byte csids, fmt 1-3 message starts, Abort) are fed to ChunkReader as
// hand-built byte streams; failure paths use a tiny scripted TCP server.
import net from "node:net";
import { createRequire } from "node:module";
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import t from "tap";
import { decodeAmf0, encodeAmf0, encodeEcmaArray, type Amf0Value } from "./amf0.js";
import {
  aacSequenceHeader,
  avcKeyframe,
  avcSequenceHeader,
  chunkHeader,
  ChunkReader,
  MsgType,
  RawRtmpClient,
  type ClientOptions,
  type RtmpMessage,
} from "./rtmp-client.js";
import { waitFor } from "./wait.js";

const require = createRequire(import.meta.url);
// NMS ships no types: the parts this test touches, declared.
const Context = require("node-media-server/src/core/context.js") as {
  config: Record<string, unknown>;
  broadcasts: Map<string, { rtmpGopCache: Set<Buffer> | null }>;
};
const RtmpSession = require("node-media-server/src/session/rtmp_session.js") as new (socket: net.Socket) => { run(): void };
(require("node-media-server/src/core/logger.js") as { level: string }).level = "error";
Context.config = {};

type Tap = { teardown(fn: () => unknown): void };

/** NMS's RTMP session on a listener of our own; returns the port and the server side of a client. */
async function startNms(tt: Tap) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    new RtmpSession(s).run();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  tt.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as net.AddressInfo).port;
  const serverSideOf = (c: RawRtmpClient) => [...sockets].find((s) => s.remotePort === c.socket.localPort);
  return { port, serverSideOf };
}

const nms = await startNms(t);

async function client(tt: Tap, port = nms.port, opts?: ClientOptions): Promise<RawRtmpClient> {
  const c = await RawRtmpClient.connect(port, "127.0.0.1", opts);
  tt.teardown(() => c.destroy());
  return c;
}

/** handshake → connect("live") → createStream → publish or play `name`. */
async function session(tt: Tap, role: "publish" | "play", name: string) {
  const c = await client(tt);
  await c.handshake();
  await c.connectApp("live");
  const sid = await c.createStream();
  const status = await c[role](sid, name);
  return { c, sid, status };
}

const isType = (type: number) => (m: RtmpMessage) => m.type === type;

t.test("handshake, connect, createStream and publish against NMS", async (t) => {
  const c = await client(t);
  t.equal(c.bytesReceived(), 0, "nothing arrives before C0+C1");
  await c.handshake();
  t.equal(c.s0s1s2?.length, 3073);
  t.equal(c.s0s1s2?.[0], 3, "S0 is version 3");

  const connected = await c.connectApp("live");
  t.equal(connected.amf?.[0], "_result");
  t.equal(connected.amf?.[1], 1, "transaction id of connect");
  t.match(connected.amf?.[3], { code: "NetConnection.Connect.Success" });
  // NMS raises its chunk size before _result; the 100 KB test below proves we re-chunk at it.
  const setChunkSize = await c.nextMessage(isType(MsgType.SetChunkSize), 1000);
  t.ok(setChunkSize.payload.readUInt32BE(0) > 128, `server chunk size ${setChunkSize.payload.readUInt32BE(0)}`);

  t.equal(await c.createStream(), 1);
  const status = await c.publish(1, "selftest_publish");
  t.equal(status.code, "NetStream.Publish.Start");
  t.same(
    c.statuses().map((s) => s.code),
    ["NetStream.Publish.Start"],
  );
});

t.test("a player receives the published sequence headers and keyframe byte for byte", async (t) => {
  const name = "selftest_relay";
  const pub = await session(t, "publish", name);
  const [aac, avc, key] = [aacSequenceHeader(), avcSequenceHeader(1280, 720), avcKeyframe(4000)];
  t.ok(await pub.c.sendAudio(pub.sid, 0, aac));
  t.ok(await pub.c.sendVideo(pub.sid, 0, avc));
  t.ok(await pub.c.sendVideo(pub.sid, 40, key));
  // A late player gets these from NMS's caches; wait until they hold the keyframe.
  await waitFor("NMS GOP cache", () => (Context.broadcasts.get(`/live/${name}`)?.rtmpGopCache?.size ?? 0) > 0);

  const player = await session(t, "play", name);
  t.equal(player.status.code, "NetStream.Play.Start");
  t.same(
    player.c.statuses().map((s) => s.code),
    ["NetStream.Play.Reset", "NetStream.Play.Start"],
  );
  const audio = await player.c.nextMessage(isType(MsgType.Audio));
  t.same(audio.payload, aac, "AAC sequence header");
  const video = [await player.c.nextMessage(isType(MsgType.Video)), await player.c.nextMessage(isType(MsgType.Video))];
  t.same(video[0].payload, avc, "AVC sequence header");
  t.same(video[1].payload, key, "keyframe");
  t.equal(video[1].timestamp, 40);
  t.same(player.c.mediaCounts(), {
    audio: { messages: 1, bytes: aac.length },
    video: { messages: 2, bytes: avc.length + key.length },
  });
});

t.test("a 100 KB video message chunked at 128 bytes arrives intact; extended timestamps survive", async (t) => {
  const name = "selftest_chunks";
  const pub = await session(t, "publish", name);
  const player = await session(t, "play", name);
  t.equal(pub.c.outChunkSize, 128, "the spec's default out chunk size");
  await pub.c.sendVideo(pub.sid, 0, avcSequenceHeader(1920, 1080));
  await player.c.nextMessage(isType(MsgType.Video));

  const big = avcKeyframe(100 * 1024);
  const cases = [
    { timestamp: 40, chunkSize: 128 },
    // >= 0xffffff: an extended timestamp in every chunk, both on our 128-byte chunks and on NMS's re-chunking.
    { timestamp: 0x01000005, chunkSize: 128 },
    { timestamp: 0x01000045, chunkSize: 4096 },
  ];
  for (const { timestamp, chunkSize } of cases) {
    if (chunkSize !== pub.c.outChunkSize) t.ok(await pub.c.setChunkSize(chunkSize));
    t.ok(await pub.c.sendVideo(pub.sid, timestamp, big));
    const got = await player.c.nextMessage(isType(MsgType.Video));
    t.equal(got.payload.length, big.length, `length at ts ${timestamp}, chunk size ${chunkSize}`);
    t.ok(got.payload.equals(big), "payload intact");
    t.equal(got.timestamp, timestamp);
  }
});

t.test("closed resolves when NMS destroys the socket; write then resolves false", async (t) => {
  const c = await client(t);
  await c.handshake();
  await c.connectApp("live");
  const serverSide = nms.serverSideOf(c);
  t.ok(serverSide, "found the server's socket");
  serverSide!.destroy();
  await c.closed;
  t.equal(await c.write(Buffer.from([0])), false);
  t.equal(await c.sendCommand("createStream", 2, null), false);
  // Messages queued before the close stay readable; waiting for a new one fails at once.
  t.equal((await c.nextMessage(isType(MsgType.SetChunkSize))).type, MsgType.SetChunkSize);
  await t.rejects(c.nextMessage(isType(MsgType.Video)), /closed/);
  await t.rejects(c.createStream(), /closed before createStream _result/);
});

// ------------------------------------------------------------------------------ ChunkReader

/** Chunks of one message (§5.3.2) as separate buffers, so tests can interleave them. */
function chunksOf(m: Omit<RtmpMessage, "amf">, size: number): Buffer[] {
  const first = chunkHeader(0, m.csid, { ...m, length: m.payload.length });
  const out = [Buffer.concat([first, m.payload.subarray(0, size)])];
  for (let off = size; off < m.payload.length; off += size) {
    out.push(Buffer.concat([chunkHeader(3, m.csid, { timestamp: m.timestamp }), m.payload.subarray(off, off + size)]));
  }
  return out;
}

const u32 = (n: number) => Buffer.from([n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const fill = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

/** A server-side byte stream touching every header form, and the messages it must yield. */
function craftedStream(): { bytes: Buffer; expected: [number, number, number, number, string][] } {
  const info = { code: "X.Y", description: "d".repeat(40) };
  const A = { csid: 3, type: 20, streamId: 1, timestamp: 100, payload: encodeAmf0(["onStatus", 0, null, info]) };
  const metadata = encodeAmf0(["onMetaData", { width: 640 }]); // 33 bytes: 4 chunks, so it completes after C
  const B = { csid: 70, type: 18, streamId: 1, timestamp: 0x1000000, payload: metadata };
  const C = { csid: 400, type: 9, streamId: 1, timestamp: 7, payload: fill(30, 1) };
  const B2 = fill(B.payload.length, 5);
  const [a, b, c] = [chunksOf(A, 10), chunksOf(B, 10), chunksOf(C, 10)];
  const interleaved: Buffer[] = [];
  for (let i = 0; i < Math.max(a.length, b.length, c.length); i++) {
    interleaved.push(...[a[i], b[i], c[i]].filter(Boolean)); // round robin
  }
  const parts = [
    chunkHeader(0, 2, { type: MsgType.SetChunkSize, length: 4 }),
    u32(10), // §5.4.1, read at the default 128
    ...interleaved, // 3 chunk streams at once; csid 70 and 400 use the 2- and 3-byte basic headers
    chunkHeader(1, 3, { timestamp: 10, length: 3, type: 9 }),
    fill(3, 2), // fmt 1: delta, new length and type
    chunkHeader(2, 3, { timestamp: 5 }),
    fill(3, 3), // fmt 2: new delta only
    chunkHeader(3, 3),
    fill(3, 4), // fmt 3 starting a message: the same delta again
    // fmt 3 starting a message right after fmt 0 (delta = that timestamp), every chunk with the ext. timestamp
    ...Array.from({ length: Math.ceil(B2.length / 10) }, (_, i) =>
      Buffer.concat([chunkHeader(3, 70, { timestamp: 0x1000000 }), B2.subarray(i * 10, i * 10 + 10)]),
    ),
    chunkHeader(0, 5, { type: 9, length: 30, streamId: 1 }),
    fill(10, 7), // partial message on csid 5...
    chunkHeader(0, 2, { type: MsgType.Abort, length: 4 }),
    u32(5), // ...aborted (§5.4.2)
    chunkHeader(0, 5, { type: 8, length: 4, streamId: 1, timestamp: 9 }),
    fill(4, 8),
    chunkHeader(0, 9, { type: 9, length: 0, streamId: 1, timestamp: 11 }), // an empty message
  ];
  return {
    bytes: Buffer.concat(parts),
    expected: [
      [1, 2, 0, 0, "0000000a"],
      [9, 400, 1, 7, C.payload.toString("hex")], // 3 chunks
      [18, 70, 1, 0x1000000, B.payload.toString("hex")], // 4 chunks
      [20, 3, 1, 100, A.payload.toString("hex")],
      [9, 3, 1, 110, fill(3, 2).toString("hex")],
      [9, 3, 1, 115, fill(3, 3).toString("hex")],
      [9, 3, 1, 120, fill(3, 4).toString("hex")],
      [18, 70, 1, 0x2000000, B2.toString("hex")],
      [2, 2, 0, 0, "00000005"],
      [8, 5, 1, 9, fill(4, 8).toString("hex")],
      [9, 9, 1, 11, ""],
    ],
  };
}

function readAll(bytes: Buffer, splits: number[]): RtmpMessage[] {
  const got: RtmpMessage[] = [];
  const reader = new ChunkReader((m) => got.push(m));
  let off = 0;
  for (const n of splits) reader.push(bytes.subarray(off, (off += n)));
  reader.push(bytes.subarray(off));
  return got;
}

t.test("ChunkReader: every header form, extended timestamps, Set Chunk Size, Abort, interleaving", async (t) => {
  const { bytes, expected } = craftedStream();
  const summary = (ms: RtmpMessage[]) => ms.map((m) => [m.type, m.csid, m.streamId, m.timestamp, m.payload.toString("hex")]);
  const whole = readAll(bytes, []);
  t.same(summary(whole), expected);
  t.same(decodeAmf0(whole[3].payload)[3], { code: "X.Y", description: "d".repeat(40) });
  t.same(summary(readAll(bytes, Array<number>(bytes.length).fill(1))), expected, "fed one byte at a time");
  const anySplit = fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 60 }), (splits) =>
    isDeepStrictEqual(summary(readAll(bytes, splits)), expected),
  );
  t.doesNotThrow(() => fc.assert(anySplit, { seed: 42, numRuns: 200 }), "any split of the input");
  t.same([...chunkHeader(0, 70)].slice(0, 2), [0x00, 70 - 64], "2-byte basic header");
  t.same([...chunkHeader(3, 400)], [0xc1, (400 - 64) & 0xff, (400 - 64) >> 8], "3-byte basic header");
});

t.test("ChunkReader throws (never silently desyncs) on protocol violations", async (t) => {
  const reader = () => new ChunkReader(() => {});
  t.throws(() => reader().push(chunkHeader(1, 3, { length: 1, type: 9 })), /fmt 1 chunk on csid 3 before any fmt 0/);
  t.throws(() => reader().push(Buffer.concat([chunkHeader(0, 2, { type: 1, length: 4 }), u32(0)])), /Set Chunk Size 0/);
  const short = Buffer.concat([chunkHeader(0, 2, { type: 1, length: 2 }), Buffer.alloc(2)]);
  t.throws(() => reader().push(short), /2-byte body/);
  const midMessage = Buffer.concat([chunkHeader(0, 4, { type: 9, length: 200 }), Buffer.alloc(128), chunkHeader(0, 4)]);
  t.throws(() => reader().push(midMessage), /inside an unfinished message/);
});

// ------------------------------------------------------------------------------ failure paths

/** A scripted server: a simple handshake (S1 = S2 = C1), then `script` gets the socket. */
async function rawServer(tt: Tap, script: (s: net.Socket, extra: Buffer) => void, stopAfterBytes = Infinity): Promise<number> {
  const server = net.createServer((s) => {
    let got = 0;
    let c1 = Buffer.alloc(0);
    s.on("error", () => {});
    s.on("data", (d) => {
      const before = got;
      got += d.length;
      if (got > stopAfterBytes) return void s.destroy();
      if (before < 1537) c1 = Buffer.concat([c1, d]).subarray(0, 1537);
      if (before < 1537 && got >= 1537) s.write(Buffer.concat([Buffer.from([3]), c1.subarray(1), c1.subarray(1)]));
      if (before < 3073 && got >= 3073) script(s, d.subarray(d.length - (got - 3073))); // C2 done; what came with it
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  tt.teardown(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as net.AddressInfo).port;
}

t.test("a parse error closes the client with a recorded error, without throwing", async (t) => {
  const port = await rawServer(t, (s) => s.write(chunkHeader(1, 3, { length: 5, type: 20 })));
  const c = await client(t, port);
  await c.handshake();
  await c.closed;
  t.match(c.error?.message, /^RTMP parse error: fmt 1 chunk on csid 3/);
  await t.rejects(c.nextMessage(), /closed \(RTMP parse error/);
  t.equal(await c.write(Buffer.from([1])), false);
});

t.test("publish rejects when the server closes before onStatus; handshake rejects when cut short", async (t) => {
  const port = await rawServer(t, (s, extra) => (extra.length > 0 ? s.destroy() : s.once("data", () => s.destroy())));
  const c = await client(t, port);
  await c.handshake();
  await t.rejects(c.publish(1, "x"), { message: "closed before onStatus" });

  const cut = await rawServer(t, () => {}, 100); // closes after 100 bytes of C0+C1
  const d = await client(t, cut);
  await t.rejects(d.handshake(), /handshake: closed/);
});

// ------------------------------------------------------------------------------ AMF0

const { value: arbAmf0 } = fc.letrec<{ value: Amf0Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.double(), // may be -0, NaN or ±Infinity, but rarely:
    fc.constantFrom(-0, NaN, Infinity, -Infinity),
    fc.boolean(),
    fc.string({ unit: "binary" }),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
    fc.integer({ min: 0xfff0, max: 0x10010 }).map((n) => "x".repeat(n)), // string / long string boundary
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: "binary", maxLength: 8 }), tie("value"), { maxKeys: 5, noNullPrototype: true }),
  ),
}));

t.test("AMF0 round trip (property) and truncation", async (t) => {
  // isDeepStrictEqual tells -0 from 0, equates NaN with NaN, and compares dates by time.
  const roundTrip = fc.property(arbAmf0, (v) => isDeepStrictEqual(decodeAmf0(encodeAmf0([v])), [v]));
  t.doesNotThrow(() => fc.assert(roundTrip, { seed: 42, numRuns: 500 }), "decode(encode([v])) ≡ [v]");
  const truncated = fc.property(arbAmf0, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (v, at) => {
    const bytes = encodeAmf0([v]);
    const cut = 1 + Math.floor(at * (bytes.length - 1)); // a strict, non-empty prefix
    if (cut >= bytes.length) return true; // one-byte encodings (null, undefined) have none
    try {
      decodeAmf0(bytes.subarray(0, cut));
      return false;
    } catch (e) {
      return e instanceof Error && /^AMF0: truncated input/.test(e.message);
    }
  });
  t.doesNotThrow(() => fc.assert(truncated, { seed: 42, numRuns: 300 }), "every strict prefix: AMF0 truncated Error");
});

t.test("AMF0 specifics", async (t) => {
  const tricky: Amf0Value = { "": 1, ["__proto__"]: "own key", u: undefined, z: -0, n: NaN, d: new Date(0) };
  const [back] = decodeAmf0(encodeAmf0([tricky])) as [Record<string, Amf0Value>];
  t.ok(isDeepStrictEqual(back, tricky), "empty key, __proto__ key, undefined, -0, NaN, date");
  t.equal(Object.getPrototypeOf(back), Object.prototype, "a __proto__ key does not become the prototype");
  t.ok(Number.isNaN((decodeAmf0(encodeAmf0([new Date(NaN)]))[0] as Date).getTime()), "invalid date stays invalid");
  t.same(decodeAmf0(encodeEcmaArray({ duration: 0, width: 640 })), [{ duration: 0, width: 640 }]);
  t.equal(encodeAmf0(["x".repeat(65535)])[0], 0x02, "65535 bytes is still a short string");
  t.equal(encodeAmf0(["x".repeat(65536)])[0], 0x0c, "65536 bytes is a long string");
  const deep = Buffer.concat([Buffer.alloc(10_000 * 5, Buffer.from([0x0a, 0, 0, 0, 1])), Buffer.from([0x05])]);
  t.throws(() => decodeAmf0(deep), /nesting deeper than/, "10,000 nested arrays: an Error, not a stack overflow");
  t.throws(() => decodeAmf0(Buffer.from([0x11])), /unsupported marker 0x11/);
  t.throws(() => decodeAmf0(Buffer.from([0x07, 0, 3])), /reference 3/);
  const ref = decodeAmf0(Buffer.concat([encodeAmf0([{ a: 1 }]), Buffer.from([0x07, 0, 0])]));
  t.equal(ref[1], ref[0], "0x07 reference resolves to the earlier object");
});
