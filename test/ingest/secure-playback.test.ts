// Secure playback end to end (issue 6): a real ffmpeg publisher, ffmpeg players with and without
// tokens, revocation and forceDisconnect reaching live sessions, and a second edge verifying the
// first's tokens through its JWKS.
import t from "tap";
import { spawnEdge, startEdge, type TestEdge } from "../helpers/edge.js";
import { play, publish } from "../helpers/ffmpeg.js";
import { RawRtmpClient } from "../helpers/rtmp-client.js";
import { waitFor } from "../helpers/wait.js";

const nowSec = () => Math.floor(Date.now() / 1000);

async function issue(edge: TestEdge, body: object): Promise<string> {
  const res = await edge.api("/api/v1/splay", { method: "POST", json: body });
  const json = (await res.json()) as { success: boolean; data?: { token: string } };
  if (!json.success) throw new Error(`issue: ${JSON.stringify(json)}`);
  return json.data!.token;
}

async function players(edge: TestEdge): Promise<number> {
  const sessions = (await (await edge.api("/v1/sessions")).json()) as { role: string }[];
  return sessions.filter((s) => s.role === "player").length;
}

t.test("plays need a token when auth.playback.required; revocation ends them within 1 s", async (t) => {
  const edge = await startEdge(t, { EDGE_AUTH_PLAYBACK_REQUIRED: "true" });
  const { name } = await edge.createStream();
  const other = await edge.createStream();
  const encoder = publish(edge.rtmpUrl(name), { seconds: 40 });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await waitFor("live", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 1);

  const token = await issue(edge, { streams: [name], exp: nowSec() + 600, revocable: true });
  const wrongStream = await issue(edge, { streams: [other.name], exp: nowSec() + 600 });
  const refusals: [string, number, string][] = [
    ["", 401, "EDGE_ERR_TOKEN_MISSING"],
    ["?jwtoken=garbage", 401, "EDGE_ERR_TOKEN_INVALID"],
    [`?jwtoken=${token.slice(0, -2)}xx`, 401, "EDGE_ERR_TOKEN_INVALID"],
    [`?jwtoken=${wrongStream}`, 403, "EDGE_ERR_TOKEN_SCOPE"],
    [`?jwtoken=${token}&jwtoken=${token}`, 400, "EDGE_ERR_BAD_QUERY"],
  ];
  for (const [query, status, code] of refusals) {
    const res = await fetch(edge.flvUrl(name) + query);
    t.equal(res.status, status, code);
    t.equal(((await res.json()) as { code: string }).code, code);
  }
  const rtmp = await RawRtmpClient.connect(edge.addresses.rtmp.port);
  await rtmp.handshake();
  await rtmp.connectApp("live");
  t.equal((await rtmp.play(await rtmp.createStream(), name)).code, "NetStream.Play.Unauthorized", "RTMP play without a token");
  rtmp.destroy();
  const authorize = (q: string) => fetch(`http://127.0.0.1:${edge.addresses.api.port}/v1/authorize/play?stream=${name}${q}`);
  t.equal((await authorize("")).status, 401, "authorize without a token");
  t.equal((await authorize(`&jwtoken=${token}`)).status, 204, "authorize with one");

  t.equal((await play(edge.flvUrl(name) + `?jwtoken=${token}`, { frames: 25 }).exited).code, 0, "HTTP-FLV with the token decodes frames");
  t.equal((await play(edge.rtmpUrl(name) + `?jwtoken=${token}`, { frames: 25 }).exited).code, 0, "RTMP with the token decodes frames");

  const flvPlayer = play(edge.flvUrl(name) + `?jwtoken=${token}`, { frames: 1_000_000, timeoutMs: 30_000 });
  const rtmpPlayer = play(edge.rtmpUrl(name) + `?jwtoken=${token}`, { frames: 1_000_000, timeoutMs: 30_000 });
  await waitFor("two players", async () => (await players(edge)) === 2);
  const revokedAt = Date.now();
  t.equal((await edge.api("/api/v1/splay/revoke", { method: "POST", json: { token } })).status, 204);
  await waitFor("players gone", async () => (await players(edge)) === 0, 1_000);
  t.pass(`both players ended ${Date.now() - revokedAt} ms after the revocation`);
  t.not((await flvPlayer.exited).code, null);
  t.not((await rtmpPlayer.exited).code, null);
  const again = await fetch(edge.flvUrl(name) + `?jwtoken=${token}`);
  t.equal(again.status, 401);
  t.equal(((await again.json()) as { code: string }).code, "EDGE_ERR_TOKEN_REVOKED", "and refused afterwards");
});

t.test("forceDisconnect ends a session at the token's exp; without it, exp only blocks new plays", async (t) => {
  const edge = await startEdge(t, { EDGE_AUTH_PLAYBACK_REQUIRED: "true", EDGE_AUTH_LEEWAY_SECONDS: "0" });
  const { name } = await edge.createStream();
  const encoder = publish(edge.rtmpUrl(name), { seconds: 40 });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await waitFor("live", async () => ((await (await edge.api("/v1/sessions")).json()) as unknown[]).length === 1);

  const exp = nowSec() + 3;
  const forced = await issue(edge, { streams: [name], exp, forceDisconnect: true });
  const lenient = await issue(edge, { streams: [name], exp });
  const cut = play(edge.flvUrl(name) + `?jwtoken=${forced}`, { frames: 1_000_000, timeoutMs: 30_000 });
  const kept = play(edge.flvUrl(name) + `?jwtoken=${lenient}`, { frames: 1_000_000, timeoutMs: 30_000 });
  await waitFor("two players", async () => (await players(edge)) === 2);
  await waitFor("the forced session ended", async () => (await players(edge)) === 1, 6_000);
  const endedLateMs = Date.now() - exp * 1000;
  t.ok(endedLateMs < 1_000, `the forceDisconnect session ended ${endedLateMs} ms after exp`);
  t.not((await cut.exited).code, null);
  await new Promise((r) => setTimeout(r, 1_000));
  t.equal(await players(edge), 1, "the session without forceDisconnect keeps playing past exp");
  const late = await fetch(edge.flvUrl(name) + `?jwtoken=${lenient}`);
  t.equal(((await late.json()) as { code: string }).code, "EDGE_ERR_TOKEN_EXPIRED", "but a new play with it is refused");
  kept.child.kill("SIGKILL");
});

t.test("a second edge verifies the first's tokens offline through its JWKS", async (t) => {
  const first = await startEdge(t);
  const token = await issue(first, { streams: ["AbCdE-stream1"], exp: nowSec() + 600 });
  const jwks = `http://127.0.0.1:${first.addresses.api.port}/.well-known/jwks.json`;
  const second = await spawnEdge(t, { EDGE_AUTH_JWKS_URLS: jwks });
  const verify = (tok: string) =>
    fetch(`http://127.0.0.1:${second.addresses.api}/api/v1/splay/verify`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: tok }),
    });
  t.equal((await verify(token)).status, 200, "the first edge's token verifies on the second");
  const loner = await spawnEdge(t);
  const unknown = await fetch(`http://127.0.0.1:${loner.addresses.api}/api/v1/splay/verify`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  t.not(unknown.status, 200, "an edge that does not follow the JWKS refuses it");
});
