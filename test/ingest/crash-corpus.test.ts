// Crash corpus (issue 3 "Tests"; docs/reliability.md §0 K1-K4 and §6 A1/A2/A6): every known-hostile
// input, each on its own connection, against one edge in this process. After each case: the edge
// closed that connection itself (or refused it with a status) within 5 s, `/healthz` is 200, and a
// good publisher is accepted. A crash ends this process and so fails the file; a stall shows as a
// timer gap. Inputs found by test/ingest/fuzz.test.ts are replayed from test/ingest/regressions/.
//
// Good publisher: a real ffmpeg (1 s of H.264 + AAC) after every 3rd case and after the last one,
// a raw-client publish (NetStream.Publish.Start) after the others: ffmpeg after every case
// (CORPUS_FFMPEG_EVERY=1) takes the file from ~40 s to ~85 s (~1.3 s per ffmpeg run, ~50 cases).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import { encodeAmf0, type Amf0Value } from "../helpers/amf0.js";
import { startEdge } from "../helpers/edge.js";
import { publish } from "../helpers/ffmpeg.js";
import { parsePrometheus, valueOf, type Sample } from "../helpers/prometheus.js";
import { RawRtmpClient, chunkHeader, chunkMessage, MsgType } from "../helpers/rtmp-client.js";

const CLOSE_BOUND_MS = 5_000;
/** Longest timer gap a case may cause: one connection must never hold the event loop. */
const STALL_BOUND_MS = 1_000;
const FFMPEG_EVERY = Number(process.env.CORPUS_FFMPEG_EVERY ?? 3);
const REGRESSIONS = path.join(path.dirname(fileURLToPath(import.meta.url)), "regressions");

// Timeouts are short so the cases that wait for the edge's own timers take 1 s, not 5-10 s.
const edge = await startEdge(t, {
  EDGE_RTMP_LIMITS_HANDSHAKE_TIMEOUT_MS: "1000",
  EDGE_RTMP_LIMITS_COMMAND_TIMEOUT_MS: "1000",
});
const port = edge.addresses.rtmp.port;
const tcUrl = `rtmp://127.0.0.1:${port}/live`;
const { name: registered } = await edge.createStream(); // a real key, for K4

// What a case may leave behind is checked at the end against these snapshots.
const cwdBefore = new Set(readdirSync(process.cwd()));
const tmpBefore = new Set(readdirSync(tmpdir()));
const passwdBefore = statSync("/etc/passwd").mtimeMs;
const dataBefore = new Set(readdirSync(edge.config.dataDir, { recursive: true }).map(String));
/** Files the edge keeps in its data dir: SQLite stores (with WAL files), keys, the API key. */
const EDGE_OWNED = /^[a-z0-9-]+(\.sqlite(-wal|-shm|-journal)?|\.pem|\.key|\.json)$|^bintu-apikey$/;

// ------------------------------------------------------------------------------ building blocks

const metrics = async (): Promise<Sample[]> => parsePrometheus(await (await fetch(`http://127.0.0.1:${edge.addresses.api.port}/metrics`)).text());
const closedFor = (m: Sample[], reason: string) => valueOf(m, "bintu_edge_connections_closed_total", { protocol: "rtmp", reason });

/** Resolves true when the client saw the server close (FIN or reset) within `ms`. */
async function closedWithin(c: RawRtmpClient, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  const closed = await Promise.race([c.closed.then(() => true), timeout]);
  clearTimeout(timer);
  return closed;
}

/** Longest gap of a 10 ms ticker while it runs: how long something held the event loop. */
function stallMonitor(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 10);
    last = now;
  }, 10);
  return {
    stop() {
      clearInterval(ticker);
      return Math.max(worst, performance.now() - last - 10);
    },
  };
}

const amf = (...values: Amf0Value[]) => encodeAmf0(values);
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
/** An AMF0 object property: UTF-8 key with a 16-bit length, then an encoded value (§2.5). */
const prop = (key: string, value: Buffer) => Buffer.concat([u16(Buffer.byteLength(key)), Buffer.from(key), value]);
const OBJECT_END = Buffer.from([0, 0, 0x09]);

/** An AMF0 command (type 20) with a hand-built body, on csid 3. */
const command = (c: RawRtmpClient, body: Buffer, streamId = 0) => c.sendMessage({ csid: 3, type: MsgType.CommandAmf0, streamId, payload: body });

async function connected(c: RawRtmpClient): Promise<void> {
  await c.handshake();
  await c.connectApp("live");
}

/** connect + createStream, then a publish whose stream name is `name` (any AMF0 value). */
async function publishAs(c: RawRtmpClient, name: Amf0Value): Promise<void> {
  await connected(c);
  const sid = await c.createStream();
  await c.sendCommandOn(sid, "publish", 0, null, name, "live");
}

/** A protocol control message (§5.4) with a body of any length, on csid 2. */
const control = (c: RawRtmpClient, type: number, body: Buffer) => c.sendMessage({ csid: 2, type, payload: body });

/** createStream answered with a _result: the parser is still in step with the client. */
async function inStep(t: Test, c: RawRtmpClient): Promise<void> {
  t.type(await c.createStream(), "number", "the parser is still in step: createStream answered");
}

// ------------------------------------------------------------------------------ the corpus

interface Case {
  name: string;
  /** bintu_edge_connections_closed_total reason that must grow by one, where deterministic. */
  reason?: string;
  /** onStatus code the client must receive before the close. */
  status?: string;
  /** Known to fail until src/ is fixed (reported to the lead): its close/stall checks are tap todo. */
  todo?: string;
  attack(c: RawRtmpClient, t: Test): Promise<void>;
}

const BAD_NAME = "NetStream.Publish.BadName";

const cases: Case[] = [
  // K1: NMS 4.4.3 ran `new URL(cmdObj.tcUrl)` on whatever connect carried.
  {
    name: "K1 connect without tcUrl",
    reason: "protocol",
    attack: async (c) => {
      await c.handshake();
      await c.sendCommand("connect", 1, { app: "live", flashVer: "FMLE/3.0", type: "nonprivate" });
    },
  },
  {
    name: "K1 connect with a null command object",
    reason: "protocol",
    attack: async (c) => {
      await c.handshake();
      await c.sendCommand("connect", 1, null);
    },
  },
  {
    name: "K1 connect with a numeric app",
    reason: "protocol",
    attack: async (c) => {
      await c.handshake();
      await c.sendCommand("connect", 1, { app: 42, tcUrl });
    },
  },
  {
    name: "K1 connect with a tcUrl that is no URL",
    reason: "protocol",
    attack: async (c) => {
      await c.handshake();
      await c.sendCommand("connect", 1, { app: "live", tcUrl: "not a url" });
    },
  },
  {
    name: "connect to an app the edge does not serve",
    reason: "bad_app",
    attack: async (c) => {
      await c.handshake();
      await c.sendCommand("connect", 1, { app: "../live", tcUrl });
    },
  },
  // K2: NMS 4.4.3 called streamName.split() on whatever publish carried (#67: `false`).
  { name: "K2 publish with a number as stream name", reason: "bad_name", status: BAD_NAME, attack: (c) => publishAs(c, 42) },
  { name: "K2 publish with false as stream name", reason: "bad_name", status: BAD_NAME, attack: (c) => publishAs(c, false) },
  { name: "K2 publish with null as stream name", reason: "bad_name", status: BAD_NAME, attack: (c) => publishAs(c, null) },
  { name: "K2 publish with an object as stream name", reason: "bad_name", status: BAD_NAME, attack: (c) => publishAs(c, { split: "x" }) },
  {
    name: "publish without a stream name at all",
    reason: "bad_name",
    status: BAD_NAME,
    attack: async (c) => {
      await connected(c);
      const sid = await c.createStream();
      await command(c, amf("publish", 0, null), sid);
    },
  },
  // K3: 4.4.3 read a 4-byte value from an empty body (ERR_BUFFER_OUT_OF_BOUNDS).
  // NMS handles a 0-length message only when the next chunk's first byte arrives, so each 0-length
  // case is sent alone (the edge's timer closes it) and followed by another message (handled now).
  {
    name: "K3 Set Chunk Size with an empty body, alone",
    reason: "command_timeout",
    attack: async (c) => {
      await connected(c);
      await control(c, MsgType.SetChunkSize, Buffer.alloc(0));
    },
  },
  {
    name: "K3 Set Chunk Size with an empty body, then a createStream",
    reason: "protocol",
    attack: async (c) => {
      await connected(c);
      await control(c, MsgType.SetChunkSize, Buffer.alloc(0));
      await c.sendCommand("createStream", 2, null);
    },
  },
  {
    name: "Set Chunk Size 0",
    reason: "bad_chunk_size",
    attack: async (c) => {
      await connected(c);
      await control(c, MsgType.SetChunkSize, u32(0));
    },
  },
  {
    name: "Set Chunk Size 2^32-1",
    reason: "bad_chunk_size",
    attack: async (c) => {
      await connected(c);
      await control(c, MsgType.SetChunkSize, u32(0xffffffff));
    },
  },
  // K4: a repeated query key became an array in NMS (`signStr?.split is not a function`).
  {
    name: "K4 publish NAME?sign=1-a&sign=2-b (repeated key)",
    reason: "bad_query",
    status: BAD_NAME,
    attack: (c) => publishAs(c, `${registered}?sign=1-a&sign=2-b`),
  },
  // Truncated and malformed AMF0 (NMS #88, #235).
  {
    name: "truncated AMF0 object in connect (no end marker)",
    reason: "protocol",
    attack: async (c) => {
      await c.handshake();
      await command(c, Buffer.concat([amf("connect", 1), Buffer.from([0x03]), prop("app", amf("live")), prop("tcUrl", amf(tcUrl))]));
    },
  },
  {
    name: "truncated AMF0 string in connect (tcUrl announces 100 bytes, has 3)",
    reason: "protocol",
    attack: async (c) => {
      await c.handshake();
      const truncated = Buffer.concat([Buffer.from([0x02]), u16(100), Buffer.from("rtm")]);
      await command(c, Buffer.concat([amf("connect", 1), Buffer.from([0x03]), prop("app", amf("live")), prop("tcUrl", truncated)]));
    },
  },
  {
    name: "truncated AMF0 string as the command name",
    reason: "handshake_timeout",
    attack: async (c) => {
      await c.handshake();
      await command(c, Buffer.concat([Buffer.from([0x02]), u16(100), Buffer.from("con")]));
    },
  },
  ...[0x0d, 0x11, 0xff].map((marker): Case => ({
    name: `unknown AMF0 marker 0x${marker.toString(16)} as the first value`,
    reason: "handshake_timeout",
    attack: async (c) => {
      await c.handshake();
      await command(c, Buffer.concat([Buffer.from([marker]), amf("connect", 1, { app: "live", tcUrl })]));
    },
  })),
  {
    name: "strict array announcing 2^32-1 elements with 3 bytes",
    reason: "protocol",
    attack: async (c) => {
      await c.handshake();
      await command(c, Buffer.concat([amf("connect", 1), Buffer.from([0x0a]), u32(0xffffffff), Buffer.from([0x05, 0x05, 0x05])]));
    },
  },
  {
    name: "connect object nested 10,000 deep (70 KB, within maxMessageSize)",
    reason: "protocol",
    attack: async (c) => {
      await c.handshake();
      const depth = 10_000;
      const open = Buffer.concat([u16(1), Buffer.from("a"), Buffer.from([0x03])]); // key "a": object
      const body = Buffer.concat([
        amf("connect", 1),
        Buffer.from([0x03]),
        Buffer.concat(Array(depth).fill(open)),
        Buffer.concat(Array(depth + 1).fill(OBJECT_END)),
      ]);
      await c.sendMessage({ csid: 3, type: MsgType.CommandAmf0, payload: body, chunkSize: 128 });
    },
  },
  // Names that must never reach a file path (A6; NMS #689 wrote outside the record root).
  ...["../../etc/passwd", "a/b", "%2e%2e", "a\0b", "a".repeat(257), "стрим-😀", ""].map((name): Case => ({
    name: `publish name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)}`,
    reason: "bad_name",
    status: BAD_NAME,
    attack: (c) => publishAs(c, name),
  })),
  { name: `publish name of a real key plus "/../x"`, reason: "bad_name", status: BAD_NAME, attack: (c) => publishAs(c, `${registered}/../x`) },
  {
    name: "play with a number as stream name",
    reason: "bad_name",
    status: "NetStream.Play.StreamNotFound",
    attack: async (c) => {
      await connected(c);
      const sid = await c.createStream();
      await c.sendCommandOn(sid, "play", 0, null, 7);
    },
  },
  {
    name: "a second connect on the same connection",
    reason: "protocol",
    attack: async (c) => {
      await connected(c);
      await c.sendCommand("connect", 2, { app: "live", tcUrl });
    },
  },
  {
    name: "publish before connect",
    reason: "protocol",
    attack: async (c) => {
      await c.handshake();
      await c.sendCommandOn(1, "publish", 0, null, registered, "live");
    },
  },
  {
    name: "play before connect",
    reason: "protocol",
    attack: async (c) => {
      await c.handshake();
      await c.sendCommandOn(1, "play", 0, null, registered);
    },
  },
  // The handshake (A2).
  {
    name: "bad C0 version (6) then a C1",
    reason: "protocol",
    attack: async (c) => {
      await c.write(Buffer.concat([Buffer.from([6]), Buffer.alloc(1536, 0x5a)]));
    },
  },
  {
    name: "C1 cut short, then the client closes",
    attack: async (c) => {
      await c.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(700, 0x5a)]));
      c.socket.end(); // our FIN: the edge must close its side, not wait for the rest
    },
  },
  {
    name: "C1 cut short, then the client stalls",
    reason: "handshake_timeout",
    attack: async (c) => {
      await c.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(700, 0x5a)]));
    },
  },
  {
    name: "close mid-handshake (just C0)",
    attack: async (c) => {
      await c.write(Buffer.from([3]));
      c.socket.end();
    },
  },
  {
    name: "C0+C1, then no C2",
    reason: "handshake_timeout",
    attack: async (c) => {
      await c.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)]));
      await c.nextMessage((m) => m.type === MsgType.HandshakeReply);
    },
  },
  // The chunk and message layers.
  {
    name: "command message (type 20) of length 0, alone",
    reason: "handshake_timeout",
    attack: async (c) => {
      await c.handshake();
      await command(c, Buffer.alloc(0));
    },
  },
  {
    name: "command message (type 20) of length 0, then a connect",
    reason: "protocol",
    attack: async (c) => {
      await c.handshake();
      await command(c, Buffer.alloc(0));
      await c.sendCommand("connect", 1, { app: "live", tcUrl });
    },
  },
  {
    name: "fmt 3 chunk on a never-seen csid",
    reason: "command_timeout",
    attack: async (c, t) => {
      await connected(c);
      await c.write(chunkHeader(3, 9));
      await inStep(t, c);
    },
  },
  {
    name: "fmt 1 chunk on a never-seen csid",
    reason: "command_timeout",
    attack: async (c, t) => {
      await connected(c);
      await c.write(Buffer.concat([chunkHeader(1, 10, { length: 4, type: 8 }), Buffer.from([0xaf, 0, 0x12, 0x10])]));
      await inStep(t, c);
    },
  },
  {
    name: "3-byte basic header (csid 65599) carrying connect",
    reason: "command_timeout",
    attack: async (c, t) => {
      await c.handshake();
      await c.write(
        chunkMessage({ csid: 65599, type: MsgType.CommandAmf0, streamId: 0, timestamp: 0, payload: amf("connect", 1, { app: "live", tcUrl }) }, 128),
      );
      const reply = await c.nextMessage((m) => m.amf?.[0] === "_result" || m.amf?.[0] === "_error");
      t.equal(reply.amf?.[0], "_result", "connect on csid 65599 is understood (3-byte csid = 64 + b1 + 256*b2)");
    },
  },
  {
    name: "extended timestamp 0xffffffff on a 3-chunk audio message",
    reason: "command_timeout",
    attack: async (c, t) => {
      await connected(c);
      const audio = Buffer.alloc(300, 0xaf);
      await c.write(chunkMessage({ csid: 4, type: MsgType.Audio, streamId: 1, timestamp: 0xffffffff, payload: audio }, 128));
      await inStep(t, c);
    },
  },
  {
    name: "Abort message for csid 3",
    reason: "command_timeout",
    attack: async (c, t) => {
      await connected(c);
      await control(c, MsgType.Abort, u32(3));
      await inStep(t, c);
    },
  },
  // NMS ignores Abort (RTMP §5.4.2 says drop the partial message) and keeps the byte count when a
  // new fmt 0 header arrives mid-message: the next createStream is mis-framed and never answered
  // (the command timer closes the connection). A conformance gap, not a crash: no reason asserted.
  {
    name: "Abort for csid 3 while a message on it is half sent, then a new message on csid 3",
    attack: async (c) => {
      await connected(c);
      await c.write(Buffer.concat([chunkHeader(0, 3, { length: 200, type: MsgType.CommandAmf0 }), Buffer.alloc(128, 0x05)]));
      await control(c, MsgType.Abort, u32(3));
      await c.sendCommand("createStream", 9, null);
    },
  },
  {
    name: "Window Acknowledgement Size with a 2-byte body",
    reason: "protocol",
    attack: async (c) => {
      await connected(c);
      await control(c, MsgType.WindowAckSize, Buffer.from([0, 1]));
    },
  },
  {
    name: "Set Peer Bandwidth with a 1-byte body",
    reason: "protocol",
    attack: async (c) => {
      await connected(c);
      await control(c, MsgType.SetPeerBandwidth, Buffer.from([1]));
    },
  },
  {
    name: "a header announcing 2^24-1 bytes",
    reason: "message_too_large",
    attack: async (c) => {
      await connected(c);
      await c.write(Buffer.concat([chunkHeader(0, 6, { length: 0xffffff, type: MsgType.Video, streamId: 1 }), Buffer.alloc(16)]));
    },
  },
  ...regressionCases(),
];

// ------------------------------------------------------------------------------ regressions

/**
 * test/ingest/regressions/*.hex, written by hand or from fuzz.test.ts counterexamples:
 *   # free text: what the input is, where it came from
 *   # setup: none | handshake | connect | publish   (what the client does first; default handshake;
 *                                                  publish = connect + createStream + publish of a real key)
 *   # todo: why it still fails                (optional: its close/stall checks become tap todo)
 *   <one socket write per line: hex bytes, spaces allowed, `XX*N` repeats a byte run N times>
 * After the writes the client sends FIN; the edge must have closed within 5 s and the event loop
 * must not have been held for more than STALL_BOUND_MS.
 */
function regressionCases(): Case[] {
  if (!existsSync(REGRESSIONS)) return [];
  return readdirSync(REGRESSIONS)
    .filter((f) => f.endsWith(".hex"))
    .sort()
    .map((file): Case => {
      const lines = readFileSync(path.join(REGRESSIONS, file), "utf8").split("\n");
      const directive = (key: string) =>
        lines
          .find((l) => l.startsWith(`# ${key}:`))
          ?.slice(key.length + 3)
          .trim();
      const setup = directive("setup") ?? "handshake";
      const writes = lines.filter((l) => l.trim() !== "" && !l.startsWith("#")).map(parseHexLine);
      return {
        name: `regression ${file}`,
        todo: directive("todo"),
        attack: async (c) => {
          if (setup !== "none") await c.handshake();
          if (setup === "connect" || setup === "publish") await c.connectApp("live");
          if (setup === "publish") await c.publish(await c.createStream(), (await edge.createStream()).name);
          for (const bytes of writes) await c.write(bytes);
          c.socket.end();
        },
      };
    });
}

function parseHexLine(line: string): Buffer {
  return Buffer.concat(
    line
      .trim()
      .split(/\s+/)
      .map((token) => {
        const [hex, times = "1"] = token.split("*");
        if (!/^([0-9a-fA-F]{2})+$/.test(hex) || !/^\d+$/.test(times)) throw new Error(`bad regression token ${token}`);
        return Buffer.from(hex.repeat(Number(times)), "hex");
      }),
  );
}

// ------------------------------------------------------------------------------ the run

let goodPublishes = 0;

async function goodPublisherAccepted(t: Test, useFfmpeg: boolean): Promise<void> {
  const { name } = await edge.createStream();
  if (useFfmpeg) {
    const { code, stderr } = await publish(edge.rtmpUrl(name), { seconds: 1 }).exited;
    t.equal(code, 0, `a good ffmpeg publisher is accepted and streams${code === 0 ? "" : `: ${stderr.slice(-300)}`}`);
    return;
  }
  const good = await RawRtmpClient.connect(port);
  await good.handshake();
  await good.connectApp("live");
  t.equal((await good.publish(await good.createStream(), name)).code, "NetStream.Publish.Start", "a good raw publisher is accepted");
  good.destroy();
}

const expectedReasons = new Map<string, number>();

for (const [i, c] of cases.entries()) {
  t.test(c.name, async (t) => {
    // A known failure still runs (and still must not crash the edge); only its assertions are todo.
    const known = c.todo ? { todo: c.todo } : {};
    const before = await metrics();
    const client = await RawRtmpClient.connect(port);
    const stall = stallMonitor();
    try {
      await c.attack(client, t);
    } catch (err) {
      // The edge may close while the attack is still talking (e.g. before a reply it waits for).
      t.comment(`attack ended early: ${(err as Error).message}`);
    }
    const closed = await closedWithin(client, CLOSE_BOUND_MS);
    const stalled = stall.stop();
    t.ok(closed, `the edge closed the connection within ${CLOSE_BOUND_MS} ms`, known);
    if (!closed) client.destroy();
    t.ok(stalled < STALL_BOUND_MS, `the event loop was never held for ${STALL_BOUND_MS} ms (longest gap ${stalled.toFixed(0)} ms)`, known);
    t.notOk(
      client.statuses().some((s) => s.code === "NetStream.Publish.Start"),
      "never told Publish.Start",
    );
    if (c.status)
      t.ok(
        client.statuses().some((s) => s.code === c.status),
        `refused with ${c.status}`,
      );
    if (c.reason) {
      const after = await metrics();
      t.equal(closedFor(after, c.reason) - closedFor(before, c.reason), 1, `counted as reason="${c.reason}"`);
      expectedReasons.set(c.reason, (expectedReasons.get(c.reason) ?? 0) + 1);
    }
    const health = await fetch(`http://127.0.0.1:${edge.addresses.api.port}/healthz`);
    t.equal(health.status, 200, "/healthz is 200");
    goodPublishes++;
    await goodPublisherAccepted(t, i % FFMPEG_EVERY === FFMPEG_EVERY - 1 || i === cases.length - 1);
  });
}

t.test("nothing was written outside the data dir, and /metrics counted every reason", async (t) => {
  t.equal(goodPublishes, cases.length, `${cases.length} cases, each followed by a good publisher`);
  // The data dir holds the edge's own stores (the registry, its API key, and whatever other
  // features keep there: SQLite files and keys), never a file a client named.
  const dataFiles = readdirSync(edge.config.dataDir, { recursive: true }).map(String);
  const fresh = dataFiles.filter((f) => !dataBefore.has(f));
  t.same(
    fresh.filter((f) => !EDGE_OWNED.test(f)),
    [],
    `no new file in the data dir but the edge's own stores (${dataFiles.join(", ")})`,
  );
  t.ok(dataFiles.some((f) => f.startsWith("registry.sqlite")) && dataFiles.includes("bintu-apikey"), "the registry and the API key are there");
  // Names derived from the malicious stream names, wherever a naive `root/app/name` would land.
  const suspicious = ["passwd", "etc", "b", "a", "%2e%2e", "..", "a".repeat(255), "стрим-😀", "live", "media", "x"];
  const created = (dir: string, before: Set<string>) => readdirSync(dir).filter((f) => !before.has(f));
  for (const [dir, before] of [
    [process.cwd(), cwdBefore],
    [tmpdir(), tmpBefore],
    [edge.config.dataDir, dataBefore],
  ] as const) {
    const named = created(dir, before).filter((f) => suspicious.includes(f) || f.includes("passwd") || f.includes("%2e"));
    t.same(named, [], `no file named after a hostile stream name appeared in ${dir}`);
  }
  for (const root of [edge.config.dataDir, path.join(edge.config.dataDir, "media"), process.cwd()]) {
    for (const target of [path.resolve(root, "live", "../../etc/passwd"), path.resolve(root, "live", "a", "b")]) {
      if (target !== "/etc/passwd") t.notOk(existsSync(target), `nothing at ${target}`);
    }
  }
  t.equal(statSync("/etc/passwd").mtimeMs, passwdBefore, "/etc/passwd untouched");

  const m = await metrics();
  for (const [reason, count] of expectedReasons) {
    t.ok(closedFor(m, reason) >= count, `/metrics: reason="${reason}" counted ${closedFor(m, reason)} time(s), expected at least ${count}`);
  }
  t.equal(valueOf(m, "bintu_edge_sessions", { role: "publisher", protocol: "rtmp" }), 0, "no publisher session left");
});
