// Property-based fuzzing of the RTMP ingest with fast-check (issue 3 "Tests"; docs/reliability.md §6
// A3/A5): random chunk-layer sequences after a valid handshake + connect, and random AMF0
// commands after a bare handshake, each on its own connection, against one edge in this process.
//
// - A crash (uncaught exception or unhandled rejection in the edge) ends this process, and so
//   fails the file: no uncaughtException/unhandledRejection handler is installed. If the process
//   dies, an `exit` hook writes the sequences in flight (regression format) to the temp dir.
// - Per sequence: after the client's writes it sends FIN; the edge must have closed the
//   connection (itself, earlier, or in answer to the FIN) within SEQUENCE_TIMEOUT_MS.
// - Over the run: arrayBuffers stays under CONCURRENCY × maxBufferedBytes + 64 MiB, the event loop
//   is never held for STALL_BOUND_MS, no process warning is emitted; afterwards /healthz is 200, a
//   raw and an ffmpeg publisher are accepted, no session is left and the fd count is back to
//   its baseline.
//
// Runs: FUZZ_RUNS sequences in total (default 10,000), half per property. Each property runs
// CONCURRENCY lanes at once; lane i is `fc.assert(…, { seed: 20261125 + i, numRuns })`, so every
// lane is reproducible and shrinks its own counterexample. 10,000 take ~40 s here. A longer soak:
//   FUZZ_RUNS=200000 npx tap --timeout=3600 test/ingest/fuzz.test.ts
// A counterexample is printed (and saved to the temp dir) in the regression format: save it under
// test/ingest/regressions/ (crash-corpus.test.ts replays every file there; the exit hook's file
// holds every sequence in flight, one `# setup:` block each: split it, one file per block).
import { readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import fc from "fast-check";
import t, { type Test } from "tap";
import { encodeAmf0, type Amf0Value } from "../helpers/amf0.js";
import { startEdge } from "../helpers/edge.js";
import { publish } from "../helpers/ffmpeg.js";
import { parsePrometheus, valueOf, type Sample } from "../helpers/prometheus.js";
import { RawRtmpClient, chunkHeader, MsgType } from "../helpers/rtmp-client.js";
import { waitFor } from "../helpers/wait.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const SEED = 20261125;
const TOTAL = Number(process.env.FUZZ_RUNS ?? 10_000);
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 12);
const PER_LANE = Math.ceil(TOTAL / 2 / CONCURRENCY);
const SEQUENCE_TIMEOUT_MS = 5_000; // from the client's FIN to the edge's close
const SEQUENCE_BOUND_MS = 15_000; // a whole sequence, setup included
const STALL_BOUND_MS = 1_000;
// Small limits, so that the caps are reachable by short random sequences.
const LIMITS = { maxMessageSize: 256 * KiB, maxBufferedBytes: 1 * MiB, maxChunkStreams: 8, maxChunkSize: 64 * KiB };
const ARRAY_BUFFERS_CAP = CONCURRENCY * LIMITS.maxBufferedBytes + 64 * MiB;

// ------------------------------------------------------------------------------ the edge and watchers

const warnings: string[] = [];
process.on("warning", (w) => warnings.push(`${w.name}: ${w.message}`));

const edge = await startEdge(t, {
  EDGE_RTMP_LIMITS_MAX_MESSAGE_SIZE: String(LIMITS.maxMessageSize),
  EDGE_RTMP_LIMITS_MAX_BUFFERED_BYTES: String(LIMITS.maxBufferedBytes),
  EDGE_RTMP_LIMITS_MAX_CHUNK_STREAMS: String(LIMITS.maxChunkStreams),
  EDGE_RTMP_LIMITS_MAX_CHUNK_SIZE: String(LIMITS.maxChunkSize),
  EDGE_RTMP_LIMITS_HANDSHAKE_TIMEOUT_MS: "1000",
  EDGE_RTMP_LIMITS_COMMAND_TIMEOUT_MS: "1000",
  EDGE_RTMP_LIMITS_MAX_CONNECTIONS_PER_IP: "1000",
});
const port = edge.addresses.rtmp.port;
const tcUrl = `rtmp://127.0.0.1:${port}/live`;
const api = (p: string) => fetch(`http://127.0.0.1:${edge.addresses.api.port}${p}`);
const metrics = async (): Promise<Sample[]> => parsePrometheus(await (await api("/metrics")).text());
// One real stream key per lane: a lane runs one sequence at a time, so its key is never busy.
const laneKeys = await Promise.all(Array.from({ length: CONCURRENCY }, async () => (await edge.createStream()).name));

await (await api("/healthz")).text(); // the API keep-alive socket belongs to the baseline
const fds = () => readdirSync("/proc/self/fd").length;
const fdBaseline = fds();

// Memory and stalls. V8 frees dead ArrayBuffers lazily: it lets external memory grow ~64 MiB past
// the last mark-compact before collecting, and frees backing stores on a background sweeper after
// that (a second GC waits for it). This process also holds the clients' traffic. So every 20 ms
// the raw arrayBuffers (and the event-loop gap) are sampled, and every second two full GCs run and
// a "settled" sample is taken, less the bytes of the sequences in flight: what the edge retains.
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;
gc();
gc();
const arrayBuffersAtStart = process.memoryUsage().arrayBuffers;
const memory = { rawPeak: 0, settledPeak: 0, worstGap: 0, lastTick: performance.now(), lastGc: performance.now() };
const sampler = setInterval(() => {
  const now = performance.now();
  memory.worstGap = Math.max(memory.worstGap, now - memory.lastTick - 20);
  memory.rawPeak = Math.max(memory.rawPeak, process.memoryUsage().arrayBuffers);
  if (now - memory.lastGc >= 1_000) {
    gc();
    gc();
    memory.settledPeak = Math.max(memory.settledPeak, process.memoryUsage().arrayBuffers - clientBytes);
    memory.lastGc = performance.now();
  }
  memory.lastTick = performance.now(); // the forced GC's own pause is not the edge's stall
}, 20);
t.teardown(() => clearInterval(sampler));

const stats = { sequences: 0, setupFailed: 0, publishStarted: 0, unparsableReplies: 0, bytesSent: 0 };
/** Bytes of the sequences in flight: the clients' own buffers, which live in this process too. */
let clientBytes = 0;

// ------------------------------------------------------------------------------ running one sequence

/** What goes on the wire: the client's setup, then one socket write per element. */
interface Wire {
  setup: "handshake" | "connect" | "publish";
  /** Each write is a list of buffers sent in one corked writev: no copy of shared filler bytes. */
  writes: Buffer[][];
}

const inFlight = new Set<Wire>();

/** Hex of a write, with long runs of one byte as `XX*N` (the regression format). */
function hexOf(parts: Buffer[]): string {
  const b = Buffer.concat(parts);
  const out: string[] = [];
  for (let i = 0; i < b.length;) {
    let j = i;
    while (j < b.length && b[j] === b[i]) j++;
    if (j - i >= 16) out.push(` ${b.subarray(i, i + 1).toString("hex")}*${j - i} `);
    else out.push(b.subarray(i, j).toString("hex"));
    i = j;
  }
  return out.join("").trim().replace(/ +/g, " ");
}

function regressionText(w: Wire, what: string): string {
  return [...what.split("\n").map((l) => `# ${l}`), `# setup: ${w.setup}`, ...w.writes.map((parts) => hexOf(parts)), ""].join("\n");
}

// Forensics only (it handles nothing): when the process dies, keep what was on the wire.
process.on("exit", (code) => {
  if (code === 0 || inFlight.size === 0) return;
  const file = path.join(tmpdir(), `bintu-edge-fuzz-inflight-${process.pid}.hex`);
  writeFileSync(file, [...inFlight].map((w, i) => regressionText(w, `in flight #${i} when the process exited with ${code}`)).join("\n"));
  process.stderr.write(`fuzz: ${inFlight.size} sequence(s) in flight written to ${file}\n`);
});

async function closedWithin(c: RawRtmpClient, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  const closed = await Promise.race([c.closed.then(() => true), timeout]);
  clearTimeout(timer);
  return closed;
}

/** Sends `parts` as one write; resolves false instead of throwing when the socket is gone. */
function writev(c: RawRtmpClient, parts: Buffer[]): Promise<boolean> {
  const s = c.socket;
  if (s.destroyed || !s.writable || parts.length === 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    s.cork();
    for (const p of parts.slice(0, -1)) s.write(p);
    s.write(parts[parts.length - 1], (err) => resolve(!err));
    s.uncork();
  });
}

async function runWire(w: Wire, lane: number): Promise<void> {
  stats.sequences++;
  inFlight.add(w);
  const size = w.writes.reduce((n, parts) => parts.reduce((m, p) => m + p.length, n), 0);
  stats.bytesSent += size;
  clientBytes += size;
  const c = await RawRtmpClient.connect(port, "127.0.0.1", { timeoutMs: 3_000 });
  try {
    try {
      await c.handshake();
      if (w.setup !== "handshake") await c.connectApp("live");
      if (w.setup === "publish") {
        const status = await c.publish(await c.createStream(), laneKeys[lane]);
        if (status.code === "NetStream.Publish.Start") stats.publishStarted++;
      }
    } catch {
      stats.setupFailed++; // e.g. the handshake timer won a race on a loaded machine: not the input's fault
      return;
    }
    for (const parts of w.writes) {
      if (c.socket.destroyed || c.socket.writableEnded) break;
      await writev(c, parts);
    }
    c.socket.end();
    if (!(await closedWithin(c, SEQUENCE_TIMEOUT_MS))) {
      throw new Error(`the edge kept the connection open ${SEQUENCE_TIMEOUT_MS} ms after the client's FIN`);
    }
    if (c.error?.message.startsWith("RTMP parse error")) {
      stats.unparsableReplies++; // a reply of the edge's our strict client could not parse: counted, reported
      if (process.env.FUZZ_DEBUG) console.error(`unparsable reply: ${c.error.message}\n${regressionText(w, "sent")}`);
    }
  } finally {
    c.destroy();
    inFlight.delete(w);
    clientBytes -= size;
  }
}

/** CONCURRENCY lanes of one property; each lane's shrunk counterexample is reported. */
async function runLanes<T>(t: Test, label: string, arb: fc.Arbitrary<T>, render: (v: T, lane: number) => Wire): Promise<void> {
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, lane) => {
      let last: { wire: Wire; error: string } | undefined;
      const property = fc.asyncProperty(arb, async (value) => {
        const wire = render(value, lane);
        let timer: NodeJS.Timeout | undefined;
        const hung = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`sequence unfinished after ${SEQUENCE_BOUND_MS} ms`)), SEQUENCE_BOUND_MS);
        });
        try {
          await Promise.race([runWire(wire, lane), hung]);
        } catch (err) {
          last = { wire, error: (err as Error).message }; // the final one is the shrunk counterexample
          throw err;
        } finally {
          clearTimeout(timer);
        }
      });
      try {
        await fc.assert(property, { seed: SEED + lane, numRuns: PER_LANE });
      } catch (err) {
        if (!last) return void failures.push(`lane ${lane}: ${(err as Error).message}`); // the test's own bug
        const text = regressionText(last.wire, `fuzz ${label}, lane ${lane} (seed ${SEED + lane}): ${last.error}`);
        const file = path.join(tmpdir(), `bintu-edge-fuzz-${label.replace(/\W+/g, "-")}-lane${lane}.hex`);
        writeFileSync(file, text);
        failures.push(`${(err as Error).message.split("\n")[0]}\ncounterexample saved to ${file}:\n${text}`);
      }
    }),
  );
  t.same(failures, [], `${label}: ${CONCURRENCY} lanes × ${PER_LANE} sequences, no counterexample`);
}

// ------------------------------------------------------------------------------ chunk layer model

type ChunkStep =
  | { kind: "chunk"; fmt: 0 | 1 | 2 | 3; csid: number; timestamp: number; length: number; type: number; streamId: number; payload: Uint8Array }
  | { kind: "setChunkSize"; value: number }
  | { kind: "abort"; csid: number }
  | { kind: "control"; type: number; body: Uint8Array }
  | { kind: "message"; csid: number; type: number; streamId: number; timestamp: number; payload: Uint8Array }
  | { kind: "interleaved"; a: { csid: number; type: number; payload: Uint8Array }; b: { csid: number; type: number; payload: Uint8Array } }
  | { kind: "bulk"; csid: number; type: number; length: number; sentPercent: number }
  | { kind: "bulkMany"; firstCsid: number; count: number; length: number }
  | { kind: "raw"; bytes: Uint8Array };

interface ChunkSequence {
  setup: "connect" | "publish";
  /** Chunks carry exactly the bytes the edge expects (see Framer), or what each step says. */
  framed: boolean;
  steps: ChunkStep[];
  /** Where the byte stream is cut into separate writes (fractions of its length); null = one write. */
  cuts: number[] | null;
}

const csidArb = fc.oneof(
  { arbitrary: fc.integer({ min: 2, max: 10 }), weight: 8 },
  { arbitrary: fc.integer({ min: 64, max: 319 }), weight: 2 },
  { arbitrary: fc.integer({ min: 320, max: 65599 }), weight: 1 },
);
const timestampArb = fc.oneof(
  { arbitrary: fc.constant(0), weight: 3 },
  { arbitrary: fc.nat({ max: 100_000 }), weight: 3 },
  { arbitrary: fc.constantFrom(0xfffffe, 0xffffff, 0x1000000, 0xffffffff), weight: 2 }, // >= 0xffffff: extended
  { arbitrary: fc.nat({ max: 0xffffffff }), weight: 1 },
);
const { maxMessageSize: M, maxChunkSize: C } = LIMITS;
// Lengths over maxMessageSize end a sequence at once, so they are a minority.
const lengthArb = fc.oneof(
  { arbitrary: fc.constant(0), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 300 }), weight: 10 },
  { arbitrary: fc.constantFrom(127, 128, 129, C - 1, C, C + 1, M - 1, M, M + 1, 0xffffff), weight: 1 },
  { arbitrary: fc.nat({ max: 2 * M }), weight: 1 },
);
const typeArb = fc.oneof(
  { arbitrary: fc.constantFrom(1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22), weight: 6 },
  { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 },
);
const streamIdArb = fc.oneof(fc.constant(0), fc.constant(1), fc.nat({ max: 0xffffffff }));
const payloadArb = fc.uint8Array({ maxLength: 300 });

const chunkStepArb: fc.Arbitrary<ChunkStep> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant("chunk" as const),
      fmt: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
      csid: csidArb,
      timestamp: timestampArb,
      length: lengthArb,
      type: typeArb,
      streamId: streamIdArb,
      payload: payloadArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("setChunkSize" as const),
      value: fc.oneof(fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 31 - 1, 128, 4096, C, C + 1), fc.nat({ max: 0xffffffff })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("abort" as const), csid: csidArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("control" as const), type: fc.constantFrom(1, 2, 3, 4, 5, 6), body: fc.uint8Array({ maxLength: 8 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("message" as const),
      csid: csidArb,
      type: typeArb,
      streamId: streamIdArb,
      timestamp: timestampArb,
      payload: payloadArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("interleaved" as const),
      a: fc.record({ csid: csidArb, type: typeArb, payload: payloadArb }),
      b: fc.record({ csid: csidArb, type: typeArb, payload: payloadArb }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("bulk" as const),
      csid: csidArb,
      type: fc.constantFrom(8, 9, 18, 20),
      length: fc.constantFrom(64 * KiB, 200 * KiB, M - 1, M),
      sentPercent: fc.integer({ min: 50, max: 100 }),
    }),
  },
  {
    // Several long messages on distinct chunk streams: the route to maxBufferedBytes.
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("bulkMany" as const),
      firstCsid: fc.integer({ min: 4, max: 60 }),
      count: fc.integer({ min: 2, max: 6 }),
      length: fc.constantFrom(128 * KiB, 200 * KiB, M - 1),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("raw" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }) },
);

const chunkSequenceArb: fc.Arbitrary<ChunkSequence> = fc.record({
  setup: fc.oneof({ arbitrary: fc.constant("connect" as const), weight: 3 }, { arbitrary: fc.constant("publish" as const), weight: 1 }),
  framed: fc.oneof({ arbitrary: fc.constant(true), weight: 2 }, { arbitrary: fc.constant(false), weight: 1 }),
  steps: fc.array(chunkStepArb, { minLength: 1, maxLength: 20 }),
  cuts: fc.option(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }), { nil: null }),
});

const FILLER = Buffer.alloc(M, 0x05); // bulk payloads: AMF0 nulls, also harmless as media bytes

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/**
 * Writes chunks and models how the edge's de-chunker (NMS 4.4.3, patched) will frame them: per
 * csid the message length, the bytes received, whether headers carry an extended timestamp, and
 * the inbound chunk size. Framed sequences send exactly the payload bytes each chunk must carry,
 * so they get past the headers into the message handlers; unframed ones send what the step says.
 * NMS keeps a message's received-byte count across a new fmt 0/1 header (it does not restart the
 * message), so a header that shortens a message below what arrived sends the model (and NMS)
 * off the rails: from there on the sequence is unframed.
 */
class Framer {
  readonly parts: Buffer[] = [];
  private chunkSize = 128; // the edge's inbound chunk size (RTMP default)
  private readonly streams = new Map<number, { length: number; type: number; got: number; ext: number | null; head: Buffer[] }>();

  constructor(private framed: boolean) {}

  /** One chunk; returns how many bytes of `data` it carried. */
  chunk(fmt: 0 | 1 | 2 | 3, csid: number, f: { timestamp: number; length: number; type: number; streamId: number }, data: Buffer): number {
    let st = this.streams.get(csid);
    if (!st) this.streams.set(csid, (st = { length: 0, type: 0, got: 0, ext: null, head: [] }));
    let timestamp = f.timestamp;
    if (fmt <= 2) st.ext = timestamp === 0xffffff || timestamp > 0xffffff ? timestamp : null;
    else if (this.framed) timestamp = st.ext ?? 0; // fmt 3 repeats the extended timestamp iff its header had one
    if (fmt <= 1) {
      st.length = f.length;
      st.type = f.type;
    }
    this.parts.push(chunkHeader(fmt, csid, { ...f, timestamp }));
    if (!this.framed) {
      this.parts.push(data);
      return data.length;
    }
    const n = Math.min(this.chunkSize - (st.got % this.chunkSize), st.length - st.got);
    if (n < 0) {
      this.framed = false;
      this.parts.push(data);
      return data.length;
    }
    const body = data.length >= n ? data.subarray(0, n) : Buffer.concat([data, Buffer.alloc(n - data.length)]);
    this.parts.push(body);
    if (st.got < 4) st.head.push(body.subarray(0, 4 - st.got));
    st.got += n;
    if (st.got >= st.length) {
      const head = Buffer.concat(st.head);
      if (st.type === MsgType.SetChunkSize && head.length >= 4) {
        const size = head.readUInt32BE(0);
        if (size >= 1 && size <= LIMITS.maxChunkSize) this.chunkSize = size; // otherwise the edge closes
      }
      st.got = 0;
      st.head = [];
    }
    return Math.min(n, data.length);
  }

  /** A message as a fmt 0 chunk and fmt 3 continuations, stopping after `sent` payload bytes. */
  message(m: { csid: number; type: number; streamId?: number; timestamp?: number; payload: Buffer; length?: number; sent?: number }): void {
    const { csid, type, streamId = 0, timestamp = 0, payload, length = payload.length, sent = payload.length } = m;
    const f = { timestamp, length, type, streamId };
    let off = 0;
    for (let fmt: 0 | 3 = 0; off < sent || fmt === 0; fmt = 3) {
      const used = this.chunk(fmt, csid, f, payload.subarray(off, Math.min(off + this.take(), sent)));
      off += used;
      if (used === 0 && fmt === 3) break; // another header changed this csid's length under us
    }
  }

  /** Two messages, their chunks alternating (interleaved chunk streams, §5.3.2.2). */
  interleaved(a: { csid: number; type: number; payload: Buffer }, b: { csid: number; type: number; payload: Buffer }): void {
    const ms = [a, b];
    const off = [0, 0];
    for (let round = 0; round === 0 || ms.some((m, i) => off[i] < m.payload.length); round++) {
      let progress = false;
      for (const i of [0, 1]) {
        const m = ms[i];
        if (round > 0 && off[i] >= m.payload.length) continue;
        const f = { timestamp: 0, length: m.payload.length, type: m.type, streamId: 1 };
        const used = this.chunk(round === 0 ? 0 : 3, m.csid, f, m.payload.subarray(off[i], off[i] + this.take()));
        off[i] += used;
        progress ||= used > 0 || round === 0;
      }
      if (!progress) break;
    }
  }

  /** Payload bytes to offer a chunk: framed, the model cuts; unframed, the believed chunk size. */
  private take(): number {
    return this.framed ? M : this.chunkSize;
  }

  control(type: number, body: Buffer): void {
    this.message({ csid: 2, type, payload: body });
  }

  raw(bytes: Buffer): void {
    this.parts.push(bytes);
    this.framed = false;
  }

  get inChunkSize(): number {
    return this.chunkSize;
  }
}

function renderChunks(seq: ChunkSequence): Wire {
  const w = new Framer(seq.framed);
  // An accepted publisher's media also fills its stream's GOP cache, which NMS bounds by
  // maxGopCacheBytes (64 MiB per stream, not by maxBufferedBytes; reported to the lead). Bulk
  // bytes from a publisher go as commands, so the arrayBuffers bound below stays about the parser.
  let bulkBudget = LIMITS.maxBufferedBytes + 2 * M; // enough to pass maxBufferedBytes, no more
  const bulkType = (type: number) => (seq.setup === "publish" && (type === MsgType.Audio || type === MsgType.Video) ? MsgType.CommandAmf0 : type);
  for (const s of seq.steps) {
    switch (s.kind) {
      case "chunk":
        w.chunk(s.fmt, s.csid, s, Buffer.from(s.payload));
        break;
      case "setChunkSize":
        w.control(MsgType.SetChunkSize, u32(s.value));
        break;
      case "abort":
        w.control(MsgType.Abort, u32(s.csid));
        break;
      case "control":
        w.control(s.type, Buffer.from(s.body));
        break;
      case "message":
        w.message({ ...s, payload: Buffer.from(s.payload) });
        break;
      case "interleaved":
        w.interleaved({ ...s.a, payload: Buffer.from(s.a.payload) }, { ...s.b, payload: Buffer.from(s.b.payload) });
        break;
      case "bulk": {
        // A long message, partly or wholly sent: big reassemblies, and the way to maxBufferedBytes.
        if ((bulkBudget -= s.length) < 0) break;
        const sent = w.inChunkSize >= 128 ? Math.floor((s.length * s.sentPercent) / 100) : 16 * KiB;
        w.message({ csid: s.csid, type: bulkType(s.type), streamId: 1, payload: FILLER.subarray(0, s.length), sent });
        break;
      }
      case "bulkMany":
        for (let i = 0; i < s.count && (bulkBudget -= s.length) >= 0; i++) {
          const sent = w.inChunkSize >= 128 ? s.length - 1 : 16 * KiB; // each left unfinished
          w.message({ csid: s.firstCsid + i, type: bulkType(MsgType.Video), streamId: 1, payload: FILLER.subarray(0, s.length), sent });
        }
        break;
      case "raw":
        w.raw(Buffer.from(s.bytes));
        break;
    }
  }
  return { setup: seq.setup, writes: cut(w.parts, seq.cuts ?? []) };
}

/** Splits a byte stream held as parts at fractions of its length, without copying. */
function cut(parts: Buffer[], fractions: number[]): Buffer[][] {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const at = [...new Set(fractions.map((f) => Math.floor(f * total)))].filter((n) => n > 0 && n < total).sort((x, y) => x - y);
  const writes: Buffer[][] = [[]];
  let pos = 0;
  for (let p of parts) {
    while (at.length > 0 && at[0] < pos + p.length) {
      const k = at.shift()! - pos;
      if (k > 0) writes[writes.length - 1].push(p.subarray(0, k));
      writes.push([]);
      p = p.subarray(k);
      pos += k;
    }
    if (p.length > 0) writes[writes.length - 1].push(p);
    pos += p.length;
  }
  return writes.filter((w) => w.length > 0).map(coalesce);
}

/** Joins runs of small parts into blocks of ~64 KiB: a writev of thousands of 1-byte headers is slow. */
function coalesce(parts: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let run: Buffer[] = [];
  let size = 0;
  for (const p of parts) {
    run.push(p);
    size += p.length;
    if (size >= 64 * KiB) {
      out.push(Buffer.concat(run, size));
      run = [];
      size = 0;
    }
  }
  if (run.length > 0) out.push(Buffer.concat(run, size)); // a copy too: clientBytes counts every byte once
  return out;
}

// ------------------------------------------------------------------------------ AMF0 command model

const LANE_KEY = "\u0000lane-key"; // replaced by the lane's real stream key when rendered

const amfLeafArb: fc.Arbitrary<Amf0Value> = fc.oneof(
  fc.double(),
  fc.integer({ min: -1, max: 10 }),
  fc.boolean(),
  fc.string({ maxLength: 24 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.constantFrom<Amf0Value>(null, undefined, "live", "rec", tcUrl, "rtmp://", "", LANE_KEY, `${LANE_KEY}?a=1&a=2`),
  fc.date({ noInvalidDate: false }),
);
const { value: amfValueArb } = fc.letrec<{ value: Amf0Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", maxDepth: 5, withCrossShrink: true },
    { arbitrary: amfLeafArb, weight: 6 },
    { arbitrary: fc.array(tie("value"), { maxLength: 4 }), weight: 1 },
    { arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), tie("value"), { maxKeys: 4 }), weight: 1 },
    // Long arrays: NMS echoes some values back through an encoder that copies per element.
    { arbitrary: fc.integer({ min: 0, max: 2_000 }).map((n): Amf0Value => Array<Amf0Value>(n).fill(null)), weight: 1 },
  ),
}));

const commandNameArb: fc.Arbitrary<Amf0Value> = fc.oneof(
  { arbitrary: fc.constantFrom("connect", "publish", "play", "createStream", "deleteStream"), weight: 8 },
  {
    arbitrary: fc.constantFrom("FCPublish", "releaseStream", "closeStream", "call", "_result", "onStatus", "play2", "seek", "pause", "@setDataFrame"),
    weight: 2,
  },
  { arbitrary: fc.string({ maxLength: 16 }), weight: 1 },
  { arbitrary: amfValueArb, weight: 1 },
);
const connectObjectArb: fc.Arbitrary<Amf0Value> = fc.record(
  {
    app: fc.oneof({ arbitrary: fc.constantFrom<Amf0Value>("live", "rec"), weight: 4 }, { arbitrary: amfValueArb, weight: 1 }),
    tcUrl: fc.oneof({ arbitrary: fc.constant<Amf0Value>(tcUrl), weight: 4 }, { arbitrary: amfValueArb, weight: 1 }),
    flashVer: fc.constant<Amf0Value>("FMLE/3.0"),
    type: fc.constant<Amf0Value>("nonprivate"),
    objectEncoding: fc.oneof(fc.constantFrom<Amf0Value>(0, 3), amfValueArb),
    extra: amfValueArb,
  },
  { requiredKeys: [] },
);
const streamNameArb: fc.Arbitrary<Amf0Value> = fc.oneof(
  {
    arbitrary: fc.constantFrom<Amf0Value>(
      LANE_KEY,
      `${LANE_KEY}?k=v`,
      `${LANE_KEY}?sign=1&sign=2`,
      "../../etc/passwd",
      "a/b",
      "%2e%2e",
      "a\0b",
      "a".repeat(257),
      "",
    ),
    weight: 3,
  },
  { arbitrary: amfValueArb, weight: 2 },
);

interface AmfCommand {
  name: Amf0Value;
  transId: Amf0Value;
  cmdObj: Amf0Value;
  args: Amf0Value[];
  tail: Uint8Array;
  streamId: number;
  amf3: boolean; // type 17 (a format byte, then AMF0) instead of 20
}

const transIdArb = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 10 }), weight: 4 }, { arbitrary: amfValueArb, weight: 1 });
const commandArb: fc.Arbitrary<AmfCommand> = fc.record({
  name: commandNameArb,
  transId: transIdArb,
  cmdObj: fc.oneof({ arbitrary: fc.constant<Amf0Value>(null), weight: 2 }, { arbitrary: connectObjectArb, weight: 3 }, { arbitrary: amfValueArb, weight: 1 }),
  args: fc.array(streamNameArb, { maxLength: 4 }),
  tail: fc.oneof({ arbitrary: fc.constant(new Uint8Array(0)), weight: 4 }, { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 32 }), weight: 1 }),
  streamId: fc.oneof(fc.constant(0), fc.constant(1), fc.nat({ max: 0xffffffff })),
  amf3: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
});

const amfSequenceArb = fc.array(commandArb, { minLength: 1, maxLength: 6 });

function withLaneKey(v: Amf0Value, key: string): Amf0Value {
  if (typeof v === "string") return v.startsWith(LANE_KEY) ? key + v.slice(LANE_KEY.length) : v;
  if (Array.isArray(v)) return v.map((x) => withLaneKey(x, key));
  if (v !== null && typeof v === "object" && !(v instanceof Date)) {
    const out: { [k: string]: Amf0Value } = {};
    for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: withLaneKey(v[k], key), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

function renderCommands(commands: AmfCommand[], lane: number): Wire {
  const writes = commands.map((c) => {
    const values = [c.name, c.transId, c.cmdObj, ...c.args].map((v) => withLaneKey(v, laneKeys[lane]));
    const body = Buffer.concat([...(c.amf3 ? [Buffer.from([0])] : []), encodeAmf0(values), Buffer.from(c.tail)]);
    const type = c.amf3 ? MsgType.CommandAmf3 : MsgType.CommandAmf0;
    const w = new Framer(true);
    w.message({ csid: 3, type, streamId: c.streamId, payload: body });
    return w.parts;
  });
  return { setup: "handshake", writes };
}

// ------------------------------------------------------------------------------ the run

// fast-check builds some lookup tables on first use (~0.7 s for the binary string unit): pay that
// before the event-loop watch starts, so a gap it reports is the edge's.
fc.sample(chunkSequenceArb, { seed: SEED, numRuns: 50 });
fc.sample(amfSequenceArb, { seed: SEED, numRuns: 50 });
memory.lastTick = performance.now();
memory.worstGap = 0;

t.test(`chunk layer: ${CONCURRENCY * PER_LANE} random chunk sequences after handshake + connect (a quarter as publishers)`, async (t) => {
  await runLanes(t, "chunk layer", chunkSequenceArb, (seq) => renderChunks(seq));
});

t.test(`AMF0 command layer: ${CONCURRENCY * PER_LANE} random command sequences after a bare handshake`, async (t) => {
  await runLanes(t, "amf0 commands", amfSequenceArb, renderCommands);
});

t.test("after the run: alive, bounded, nothing left open", async (t) => {
  const m = await metrics();
  const reasons = m
    .filter((s) => s.name === "bintu_edge_connections_closed_total" && s.value > 0)
    .map((s) => `${s.labels.reason}=${s.value}`)
    .join(", ");
  t.comment(
    `sequences run (with shrinking): ${stats.sequences}; setup failed: ${stats.setupFailed}; publish started: ${stats.publishStarted}; replies our client could not parse: ${stats.unparsableReplies}`,
  );
  t.comment(`closes by reason: ${reasons}`);
  const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  t.comment(
    `arrayBuffers: at start ${mib(arrayBuffersAtStart)}, settled peak ${mib(memory.settledPeak)} (cap ${mib(ARRAY_BUFFERS_CAP)}), raw peak ${mib(memory.rawPeak)}; longest event-loop gap ${memory.worstGap.toFixed(0)} ms; ${mib(stats.bytesSent)} sent by the clients`,
  );
  t.ok(stats.sequences >= 2 * CONCURRENCY * PER_LANE, `${stats.sequences} sequences ≥ ${2 * CONCURRENCY * PER_LANE}`);
  t.ok(stats.setupFailed <= stats.sequences * 0.01, `setup failed for ${stats.setupFailed} sequence(s), at most 1%`);
  t.ok(
    memory.settledPeak < ARRAY_BUFFERS_CAP,
    `arrayBuffers (settled samples) peaked at ${mib(memory.settledPeak)} < ${CONCURRENCY} × maxBufferedBytes + 64 MiB = ${mib(ARRAY_BUFFERS_CAP)}`,
  );
  // Raw samples also hold up to one V8 external-memory window (64 MiB) of garbage: no runaway.
  t.ok(memory.rawPeak < ARRAY_BUFFERS_CAP + 64 * MiB, `arrayBuffers (raw samples) peaked at ${mib(memory.rawPeak)} < cap + 64 MiB`);
  t.ok(memory.worstGap < STALL_BOUND_MS, `the event loop was never held for ${STALL_BOUND_MS} ms (longest gap ${memory.worstGap.toFixed(0)} ms)`);
  t.equal((await api("/healthz")).status, 200, "/healthz is 200");

  const sessionsLeft = async () => {
    const s = await metrics();
    return s.filter((x) => x.name === "bintu_edge_sessions").reduce((sum, x) => sum + x.value, 0);
  };
  await waitFor("no session left", async () => (await sessionsLeft()) === 0);
  t.equal(await sessionsLeft(), 0, "bintu_edge_sessions is 0 for every role and protocol");
  await waitFor("fds back to baseline", () => fds() <= fdBaseline + 2).catch(() => {});
  t.ok(fds() <= fdBaseline + 2, `open fds ${fds()} back to the baseline ${fdBaseline} (±2): no connection left open`);

  const raw = await RawRtmpClient.connect(port);
  await raw.handshake();
  await raw.connectApp("live");
  t.equal((await raw.publish(await raw.createStream(), laneKeys[0])).code, "NetStream.Publish.Start", "a good raw publisher is accepted");
  raw.destroy();
  await waitFor("raw publisher gone", async () => (await sessionsLeft()) === 0);
  const { code, stderr } = await publish(edge.rtmpUrl(laneKeys[1]), { seconds: 1 }).exited;
  t.equal(code, 0, `a good ffmpeg publisher is accepted and streams${code === 0 ? "" : `: ${stderr.slice(-300)}`}`);
  t.same(warnings, [], "no process warning (MaxListeners or other)");
  gc();
  gc();
  const retained = process.memoryUsage().arrayBuffers - arrayBuffersAtStart;
  t.ok(retained < 4 * MiB, `arrayBuffers back to the start after a GC (${mib(retained)} more): nothing retained from the run`);
  await waitFor("ffmpeg publisher gone", async () => valueOf(await metrics(), "bintu_edge_sessions", { role: "publisher", protocol: "rtmp" }) === 0);
});
