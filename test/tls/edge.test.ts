// One edge with TLS on (issue 15 §5): ffmpeg publishes over rtmps:// and ffprobe plays over
// https://…flv and rtmps://, plain rtmp:// still works beside it, the stream JSON hands out TLS
// URLs, only TLS 1.2+ is spoken with no renegotiation, a handshake flood is cut by the handshake
// timeout on every port, and a rotated
// certificate reaches new connections while a running player keeps reading.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import t from "tap";
import { probeFrames, publish } from "../helpers/ffmpeg.js";
import { startEdge } from "../helpers/edge.js";
import { TLS_ONLY, boardMetricsMatching, exportedFamilies } from "../helpers/grafana.js";
import { waitFor } from "../helpers/wait.js";
import { flvReader, handshake, httpsRequest, renegotiate } from "../helpers/tls-clients.js";
import { makePki } from "../helpers/pki.js";

const HANDSHAKE_TIMEOUT_MS = 2_000;

const pki = makePki(t);
const ca = readFileSync(pki.caFile, "utf8");
const first = pki.leaf(0x1001);
const second = pki.leaf(0x2002);
// The edge reads its pair from files this test rewrites in place, as an operator's deploy would.
const live = join(pki.dir, "live");
mkdirSync(live);
const certFile = join(live, "fullchain.pem");
const keyFile = join(live, "privkey.pem");
copyFileSync(first.cert, certFile);
copyFileSync(first.key, keyFile);

const edge = await startEdge(t, {
  EDGE_TLS_CERT_FILE: certFile,
  EDGE_TLS_KEY_FILE: keyFile,
  EDGE_RTMP_TLS_PORT: "0",
  EDGE_RTMP_LIMITS_HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS),
});
const { rtmps, rtmp, playback, api } = edge.addresses;
if (!rtmps) throw new Error("no RTMPS address");
const apiUrl = (path: string) => `https://127.0.0.1:${api.port}${path}`;
const headers = { "X-BINTU-APIKEY": edge.apiKey, "content-type": "application/json" };

async function createStream(): Promise<{ id: string; name: string; json: Record<string, unknown> }> {
  const res = await httpsRequest(apiUrl("/stream"), ca, { method: "POST", headers, body: "{}" });
  if (res.status !== 200) throw new Error(`POST /stream: ${res.status} ${res.text}`);
  const json = JSON.parse(res.text) as { id: string; ingest: { rtmp: { streamname: string } } };
  return { id: json.id, name: json.ingest.rtmp.streamname, json };
}

async function metric(name: string): Promise<number> {
  const res = await httpsRequest(apiUrl("/metrics"), ca);
  const line = res.text.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return line ? Number(line.split(" ").at(-1)) : NaN;
}

const flvUrl = (name: string) => `https://127.0.0.1:${playback.port}/live/${name}.flv`;
/** The stream is live once a HEAD of its HTTPS-FLV URL is answered 200. */
const whenLive = (name: string) => waitFor(`${name} live`, async () => (await httpsRequest(flvUrl(name), ca, { method: "HEAD" })).status === 200, 15_000);

t.test("the stream JSON hands out rtmps:// and https:// (issue 15 §4)", async (t) => {
  const { json, name } = await createStream();
  const ingest = json.ingest as { rtmp: { url: string } };
  const playout = json.playout as { rtmp: { url: string }[]; flv: { url: string }[] };
  t.equal(ingest.rtmp.url, `rtmps://localhost:${rtmps.port}/live`, "encoders are given RTMPS even with plain RTMP on");
  t.equal(playout.rtmp[0].url, `rtmps://localhost:${rtmps.port}/live`);
  t.equal(playout.flv[0].url, `https://localhost:${playback.port}/live/${name}.flv`);
});

t.test("ffmpeg publishes over rtmps://; ffprobe reads frames over https://…flv and rtmps://", async (t) => {
  const { name } = await createStream();
  // ffmpeg's RTMPS does not verify the server (its tls_verify defaults to 0 and rtmp passes no CA
  // option down); the HTTPS read below does verify against the test CA.
  const encoder = publish(`rtmps://127.0.0.1:${rtmps.port}/live/${name}`, { seconds: 20 });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await whenLive(name);
  const https = await probeFramesVerified(flvUrl(name));
  t.equal(https.code, 0, https.stderr);
  t.ok(https.frames >= 5, `${https.frames} frames over HTTPS-FLV`);
  const overRtmps = await probeFrames(`rtmps://127.0.0.1:${rtmps.port}/live/${name}`, 5);
  t.equal(overRtmps.code, 0, overRtmps.stderr);
  t.ok(overRtmps.frames >= 5, `${overRtmps.frames} frames over RTMPS`);
  encoder.child.kill("SIGKILL");
});

/** ffprobe over HTTPS with certificate verification against the test CA. */
async function probeFramesVerified(url: string): Promise<{ code: number | null; frames: number; stderr: string }> {
  const { spawn } = await import("node:child_process");
  const child = spawn("ffprobe", [
    "-v",
    "error",
    "-tls_verify",
    "1",
    "-ca_file",
    pki.caFile,
    "-rw_timeout",
    "10000000",
    "-select_streams",
    "v:0",
    "-read_intervals",
    "%+#5",
    "-show_entries",
    "frame=pict_type",
    "-of",
    "json",
    url,
  ]);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const frames = code === 0 ? ((JSON.parse(stdout) as { frames?: unknown[] }).frames ?? []).length : 0;
  return { code, frames, stderr };
}

t.test("plain rtmp:// publishing still works beside RTMPS", async (t) => {
  const { name } = await createStream();
  const encoder = publish(`rtmp://127.0.0.1:${rtmp.port}/live/${name}`, { seconds: 20 });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await whenLive(name);
  const read = await probeFramesVerified(flvUrl(name));
  t.equal(read.code, 0, read.stderr);
  t.ok(read.frames >= 5, `${read.frames} frames of a plain-RTMP publish, played over HTTPS`);
  encoder.child.kill("SIGKILL");
});

t.test("the Grafana board's TLS panels name families a TLS edge exports (a plain edge exports no expiry gauge)", async (t) => {
  const onBoard = boardMetricsMatching(TLS_ONLY);
  t.same(onBoard, ["bintu_edge_tls_certificate_expiry_seconds"], "the board graphs the certificate's expiry");
  const exported = exportedFamilies((await httpsRequest(apiUrl("/metrics"), ca)).text);
  t.same(
    onBoard.filter((m) => !exported.has(m)),
    [],
    "exported by a TLS edge",
  );
});

t.test("only TLS 1.2 and 1.3: a TLS 1.0 / 1.1 client is refused on every port", async (t) => {
  const failedBefore = await metric('bintu_edge_connections_closed_total{protocol="rtmp",reason="protocol"}');
  for (const [what, port] of [
    ["rtmps", rtmps.port],
    ["playback", playback.port],
    ["api", api.port],
  ] as const) {
    const old = await handshake(port, { ca, minVersion: "TLSv1", maxVersion: "TLSv1.1" });
    t.ok(old.error, `${what}: TLS 1.1 refused (${old.error})`);
    const tls12 = await handshake(port, { ca, maxVersion: "TLSv1.2" });
    t.equal(tls12.protocol, "TLSv1.2", `${what}: TLS 1.2 served`);
    const modern = await handshake(port, { ca });
    t.equal(modern.protocol, "TLSv1.3", `${what}: TLS 1.3 served`);
  }
  const failed = await metric('bintu_edge_connections_closed_total{protocol="rtmp",reason="protocol"}');
  t.equal(failed - (failedBefore || 0), 1, "the refused RTMPS handshake is counted as a protocol failure");
});

t.test("no renegotiation: a TLS 1.2 client that asks for one is refused on every port", async (t) => {
  // The check can fail: Node's TLS server on its own lets a client renegotiate and keeps it.
  const allowing = tls.createServer({ cert: readFileSync(first.cert), key: readFileSync(first.key) }, (s) => s.resume());
  await new Promise<void>((resolve) => allowing.listen(0, "127.0.0.1", resolve));
  t.teardown(() => allowing.close());
  t.equal(await renegotiate((allowing.address() as AddressInfo).port, { ca }), "kept open", "control: a server that allows it keeps the connection");
  for (const [what, port] of [
    ["rtmps", rtmps.port],
    ["playback", playback.port],
    ["api", api.port],
  ] as const) {
    const result = await renegotiate(port, { ca });
    t.not(result, "kept open", `${what}: the renegotiation is refused (${result})`);
  }
});

t.test("RTMPS connections are capped at TCP accept, before any TLS work", async (t) => {
  // rtmp.limits.maxConnectionsPerIp is 50 by default: 50 idle TCP connections fill it.
  const idle = await Promise.all(
    Array.from(
      { length: 50 },
      () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect(rtmps.port, "127.0.0.1", () => resolve(s));
          s.on("error", () => {});
        }),
    ),
  );
  t.teardown(() => idle.forEach((s) => s.destroy()));
  const before = await metric('bintu_edge_connections_closed_total{protocol="rtmp",reason="too_many_connections_ip"}');
  const refused = await handshake(rtmps.port, { ca });
  t.ok(refused.error, `the 51st is closed before its handshake completes (${refused.error})`);
  const after = await metric('bintu_edge_connections_closed_total{protocol="rtmp",reason="too_many_connections_ip"}');
  t.equal(after - (before || 0), 1, "counted as too_many_connections_ip");
  idle.forEach((s) => s.destroy());
  await waitFor("the slots freed", async () => (await handshake(rtmps.port, { ca })).serial !== undefined, 5_000);
});

t.test("a slow-handshake flood is cut by the handshake timeout; a real client is served meanwhile", async (t) => {
  for (const [what, port] of [
    ["rtmps", rtmps.port],
    ["playback", playback.port],
    ["api", api.port],
  ] as const) {
    const started = Date.now();
    // Sockets that connect and never send a ClientHello.
    const idle = await Promise.all(
      Array.from(
        { length: 30 },
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(port, "127.0.0.1", () => resolve(s));
            s.on("error", () => {});
          }),
      ),
    );
    const closedAt = idle.map((s) => new Promise<number>((resolve) => s.once("close", () => resolve(Date.now() - started))));
    const served = await handshake(port, { ca });
    t.equal(served.serial !== undefined, true, `${what}: a real client completes its handshake during the flood`);
    const times = await Promise.all(closedAt);
    const last = Math.max(...times);
    t.ok(Math.min(...times) >= HANDSHAKE_TIMEOUT_MS - 200, `${what}: not cut before the timeout (${Math.min(...times)} ms)`);
    t.ok(last < HANDSHAKE_TIMEOUT_MS + 2_000, `${what}: all 30 cut by ${last} ms (timeout ${HANDSHAKE_TIMEOUT_MS} ms)`);
  }
  t.ok((await metric('bintu_edge_connections_closed_total{protocol="rtmp",reason="handshake_timeout"}')) >= 30, "RTMPS: counted as handshake_timeout");
});

t.test("rotation: a running HTTPS-FLV player keeps reading, new connections get the new certificate", async (t) => {
  const { name } = await createStream();
  const encoder = publish(`rtmps://127.0.0.1:${rtmps.port}/live/${name}`, { seconds: 30 });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await whenLive(name);
  const player = await flvReader(flvUrl(name), ca);
  t.teardown(() => player.close());
  await waitFor("the player's first bytes", () => player.bytes() > 10_000, 10_000);
  for (const port of [rtmps.port, playback.port, api.port]) t.equal((await handshake(port, { ca })).serial, first.serial, "before: the first");
  const expiry = await metric("bintu_edge_tls_certificate_expiry_seconds");
  t.ok(expiry > 86_000 && expiry <= 86_400, `expiry gauge ${expiry} s (one day)`);

  // In place, key last: certbot-style deploys write both files; the edge reloads once both match.
  writeFileSync(certFile, readFileSync(second.cert));
  writeFileSync(keyFile, readFileSync(second.key));
  await waitFor("the new certificate", async () => (await handshake(api.port, { ca })).serial === second.serial, 10_000);
  for (const port of [rtmps.port, playback.port, api.port])
    t.equal((await handshake(port, { ca })).serial, second.serial, `after: port ${port} serves the second`);
  t.equal(await metric('bintu_edge_tls_reloads_total{result="ok"}'), 1, "one good reload counted");
  const before = player.bytes();
  await waitFor("bytes after the rotation", () => player.bytes() > before + 20_000, 10_000);
  t.equal(player.res.destroyed, false, "the player connected before the rotation is still reading");

  // A bad new pair (the first certificate with the second's key) keeps the second in force.
  writeFileSync(certFile, readFileSync(first.cert));
  await waitFor("the refused reload", async () => (await metric('bintu_edge_tls_reloads_total{result="error"}')) === 1, 10_000);
  t.equal((await handshake(rtmps.port, { ca })).serial, second.serial, "the pair in force stays");
  t.equal((await handshake(playback.port, { ca })).serial, second.serial);
  const still = player.bytes();
  await waitFor("bytes after the refused reload", () => player.bytes() > still + 10_000, 10_000);
  encoder.child.kill("SIGKILL");
});
