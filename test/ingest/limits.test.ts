// Every RTMP limit closes the offending connection with its reason, and only that connection
// (issue 3 §2). Each case is checked by its metric reason and by a good client working after it.
import net from "node:net";
import t, { type Test } from "tap";
import { startEdge, type TestEdge } from "../helpers/edge.js";
import { RawRtmpClient, chunkHeader } from "../helpers/rtmp-client.js";
import { parsePrometheus, valueOf } from "../helpers/prometheus.js";

const MiB = 1024 * 1024;

async function closedFor(edge: TestEdge, reason: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${edge.addresses.api.port}/metrics`)).text();
  return valueOf(parsePrometheus(text), "bintu_edge_connections_closed_total", { protocol: "rtmp", reason });
}

async function goodPublisherWorks(t: Test, edge: TestEdge, name: string): Promise<void> {
  const client = await RawRtmpClient.connect(edge.addresses.rtmp.port);
  await client.handshake();
  await client.connectApp("live");
  t.equal((await client.publish(await client.createStream(), name)).code, "NetStream.Publish.Start", "a good publisher is still accepted");
  client.destroy();
}

async function connectedClient(edge: TestEdge): Promise<RawRtmpClient> {
  const client = await RawRtmpClient.connect(edge.addresses.rtmp.port);
  await client.handshake();
  await client.connectApp("live");
  return client;
}

t.test("message, buffer, chunk-stream and chunk-size limits", async (t) => {
  const edge = await startEdge(t, {
    EDGE_RTMP_LIMITS_MAX_MESSAGE_SIZE: String(1 * MiB),
    EDGE_RTMP_LIMITS_MAX_BUFFERED_BYTES: String(2 * MiB),
    EDGE_RTMP_LIMITS_MAX_CHUNK_STREAMS: "8",
  });
  const { name } = await edge.createStream();
  const cases: [string, string, (c: RawRtmpClient) => Promise<unknown>][] = [
    [
      "a header announcing 16 MiB - 1",
      "message_too_large",
      (c) => c.write(Buffer.concat([chunkHeader(0, 6, { length: 0xffffff, type: 9, streamId: 1 }), Buffer.alloc(1)])),
    ],
    ["a header one byte over the limit", "message_too_large", (c) => c.write(chunkHeader(0, 6, { length: MiB + 1, type: 9, streamId: 1 }))],
    // Each header starts a 1000-byte message and sends one full 128-byte chunk of it.
    [
      "more chunk streams than allowed",
      "too_many_chunk_streams",
      (c) =>
        c.write(
          Buffer.concat(
            Array.from({ length: 12 }, (_, i) => Buffer.concat([chunkHeader(0, 10 + i, { length: 1000, type: 9, streamId: 1 }), Buffer.alloc(128)])),
          ),
        ),
    ],
    [
      "partial messages past the buffered-bytes bound",
      "buffer_limit",
      async (c) => {
        // Three 1 MiB messages, each left one chunk short of complete, on three chunk streams.
        await c.setChunkSize(64 * 1024);
        for (let csid = 10; csid < 13; csid++) {
          for (let sent = 0; sent < MiB - 64 * 1024; sent += 64 * 1024) {
            const header = sent === 0 ? chunkHeader(0, csid, { length: MiB, type: 9, streamId: 1 }) : chunkHeader(3, csid);
            await c.write(Buffer.concat([header, Buffer.alloc(64 * 1024)]));
          }
        }
      },
    ],
    ["Set Chunk Size 0", "bad_chunk_size", (c) => c.sendMessage({ csid: 2, type: 1, payload: Buffer.from([0, 0, 0, 0]) })],
    ["Set Chunk Size 2^31", "bad_chunk_size", (c) => c.sendMessage({ csid: 2, type: 1, payload: Buffer.from([0x80, 0, 0, 0]) })],
    ["Set Chunk Size over maxChunkSize", "bad_chunk_size", (c) => c.sendMessage({ csid: 2, type: 1, payload: Buffer.from([0, 0x10, 0, 0]) })],
  ];
  for (const [what, reason, attack] of cases) {
    const before = await closedFor(edge, reason);
    const client = await connectedClient(edge);
    await attack(client);
    await client.closed;
    t.equal(await closedFor(edge, reason), before + 1, `${what}: closed as ${reason}`);
  }
  await goodPublisherWorks(t, edge, name);
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  t.ok(arrayBuffers < 64 * MiB, `arrayBuffers ${(arrayBuffers / MiB).toFixed(1)} MiB after the attacks (heap ${(heapUsed / MiB).toFixed(0)} MiB)`);
});

t.test("handshake, command and idle timeouts", async (t) => {
  const edge = await startEdge(t, {
    EDGE_RTMP_LIMITS_HANDSHAKE_TIMEOUT_MS: "300",
    EDGE_RTMP_LIMITS_COMMAND_TIMEOUT_MS: "300",
    EDGE_RTMP_LIMITS_IDLE_TIMEOUT_MS: "600",
  });
  const { name } = await edge.createStream();

  const mute = await RawRtmpClient.connect(edge.addresses.rtmp.port);
  await mute.write(Buffer.from([3]));
  await mute.closed;
  t.equal(await closedFor(edge, "handshake_timeout"), 1, "a client stuck in the handshake is closed");

  const dawdler = await connectedClient(edge);
  await dawdler.closed;
  t.equal(await closedFor(edge, "command_timeout"), 1, "a client that never publishes or plays is closed");

  const silent = await connectedClient(edge);
  t.equal((await silent.publish(await silent.createStream(), name)).code, "NetStream.Publish.Start");
  const since = Date.now();
  await silent.closed;
  t.ok(Date.now() - since >= 500, "an accepted publisher is left alone while within idleTimeoutMs");
  t.equal(await closedFor(edge, "idle_timeout"), 1, "a publisher that sends nothing is closed");
  await goodPublisherWorks(t, edge, name);
});

t.test("connection caps, total and per IP", async (t) => {
  const edge = await startEdge(t, { EDGE_RTMP_LIMITS_MAX_CONNECTIONS: "6", EDGE_RTMP_LIMITS_MAX_CONNECTIONS_PER_IP: "4" });
  const { name } = await edge.createStream();
  const open = (host: string) =>
    new Promise<net.Socket>((resolve) => {
      const s = net.connect({ port: edge.addresses.rtmp.port, host: "127.0.0.1", localAddress: host }, () => resolve(s));
      s.on("error", () => {});
    });
  const closedSoon = (s: net.Socket) =>
    new Promise<boolean>((r) => {
      s.once("close", () => r(true));
      setTimeout(() => r(false), 1_000);
    });

  const fromA = await Promise.all([1, 2, 3, 4].map(() => open("127.0.0.2")));
  const fifth = await open("127.0.0.2");
  t.ok(await closedSoon(fifth), "the 5th connection from one IP is closed at once");
  t.equal(await closedFor(edge, "too_many_connections_ip"), 1);

  const fromB = await Promise.all([1, 2].map(() => open("127.0.0.3")));
  const seventh = await open("127.0.0.4");
  t.ok(await closedSoon(seventh), "past maxConnections every new connection is closed");
  t.equal(await closedFor(edge, "too_many_connections"), 1);

  for (const s of [...fromA, ...fromB]) s.destroy();
  await new Promise((r) => setTimeout(r, 100));
  await goodPublisherWorks(t, edge, name);
});
