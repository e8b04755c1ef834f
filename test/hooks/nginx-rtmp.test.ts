// nginx-rtmp with bintu-edge as its access layer, end to end (issue 14 §1, §6, §7): a real nginx
// with Debian's RTMP module calls /v1/hooks/nginx-rtmp; a real ffmpeg publishes through it and
// ffprobe / ffmpeg play from it. Lock and revocation reach nginx through its control module.
import t from "tap";
import { startEdge, type TestEdge } from "../helpers/edge.js";
import { play, probeFrames, publish } from "../helpers/ffmpeg.js";
import { freePort, startNginxRtmp } from "../helpers/nginx-rtmp.js";
import { waitFor } from "../helpers/wait.js";

const SECRET = "hook-secret-for-the-test";

interface Session {
  id: string;
  role: string;
  server: string;
  protocol: string;
  stream: string;
}
const sessions = async (edge: TestEdge) => (await (await edge.api("/v1/sessions")).json()) as Session[];

async function issue(edge: TestEdge, body: object): Promise<string> {
  const res = await edge.api("/api/v1/splay", { method: "POST", json: { exp: Math.floor(Date.now() / 1000) + 600, ...body } });
  const json = (await res.json()) as { success: boolean; data?: { token: string } };
  if (!json.success) throw new Error(`issue: ${JSON.stringify(json)}`);
  return json.data!.token;
}

/** How many hook decisions of this action, result and reason the edge counted (bintu_edge_access_decisions_total). */
async function decisions(edge: TestEdge, action: string, reason: string): Promise<number> {
  const text = await (await edge.api("/metrics")).text();
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`bintu_edge_access_decisions_total{action="${action}",protocol="hook",`) && l.includes(`reason="${reason}"`));
  return line ? Number(line.split(" ").pop()) : 0;
}

async function handleOf(edge: TestEdge, token: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${edge.addresses.api.port}/v1/tokens/handle`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  if (res.status !== 200) throw new Error(`handle: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { handle: string }).handle;
}

t.test("nginx-rtmp asks the edge on publish, play and update; lock and revocation drop its sessions", async (t) => {
  const httpPort = await freePort();
  const edge = await startEdge(t, {
    EDGE_AUTH_PLAYBACK_REQUIRED: "true",
    EDGE_HOOKS_SECRET: SECRET,
    EDGE_HOOKS_NGINX_RTMP_CONTROL_URL: `http://127.0.0.1:${httpPort}/control`,
  });
  const hook = `http://127.0.0.1:${edge.addresses.api.port}/v1/hooks/nginx-rtmp?secret=${SECRET}`;
  const nginx = await startNginxRtmp(
    t,
    `    application live {
      live on;
      on_publish ${hook};
      on_play ${hook};
      on_publish_done ${hook};
      on_play_done ${hook};
      on_update ${hook};
      notify_update_timeout 1s;
      notify_update_strict on;
    }`,
    { http: httpPort },
  );
  const url = (name: string, query = "") => `rtmp://127.0.0.1:${nginx.rtmpPort}/live/${name}${query}`;
  const { id, name } = await edge.createStream();

  // A wrong key: nginx gets 403 from the hook and closes the encoder's connection.
  const wrong = publish(url("NoSuch-Stream1"), { seconds: 10 });
  t.teardown(() => wrong.child.kill("SIGKILL"));
  const refused = await wrong.exited;
  t.not(refused.code, 0, "a wrong key is refused");
  t.equal(await decisions(edge, "publish", "unknown_stream"), 1, "by the hook's decision");
  t.same(await sessions(edge), [], "and nothing was started");

  const encoder = publish(url(name), { seconds: 60 });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await waitFor("the publisher on nginx in GET /v1/sessions", async () => (await sessions(edge)).some((s) => s.role === "publisher"));
  const [publisher] = await sessions(edge);
  t.match(publisher, { role: "publisher", server: "nginx-rtmp", protocol: "rtmp", stream: name }, "listed with the server it is on");
  const stream = (await (await edge.api(`/stream/${id}`)).json()) as { state: string };
  t.equal(stream.state, "live", "the stream went live through the hook");

  // Plays need a token (auth.playback.required). A full JWT after the name passes nginx's
  // 255-byte cut only when short; the 22-character handle always fits (docs/hooks.md §6).
  t.equal((await probeFrames(url(name), 5, 20_000)).frames, 0, "a play without a token reads nothing");
  t.equal(await decisions(edge, "play", "token_missing"), 1, "refused for want of a token");
  const token = await issue(edge, { streams: [name], revocable: true });
  t.ok(`${name}?jwtoken=${token}`.length > 255, `a full token (${token.length} chars) is longer than nginx keeps`);
  t.equal((await probeFrames(url(name, `?jwtoken=${token}`), 5, 20_000)).frames, 0, "so the full token, cut by nginx, is refused");
  t.equal(await decisions(edge, "play", "token_invalid"), 1, "as an invalid token: nginx cut it");
  const handle = await handleOf(edge, token);
  t.ok(handle.length <= 32, `the handle is short (${handle.length} chars)`);
  const probed = await probeFrames(url(name, `?jwh=${handle}`), 5, 20_000);
  t.equal(probed.frames, 5, "a play with the token's handle reads frames from nginx");
  const wrongScope = await handleOf(edge, await issue(edge, { streams: ["Other-Stream1"] }));
  t.equal((await probeFrames(url(name, `?jwh=${wrongScope}`), 5, 20_000)).frames, 0, "a token for another stream is refused");
  t.equal(await decisions(edge, "play", "token_scope"), 1);

  // A Guardian rule refuses new plays through nginx as it does on the edge itself.
  const rule = await edge.api("/guardian/ip", { method: "POST", json: { ip: "127.0.0.0/8", type: "deny", tag: "hooks" } });
  t.equal(rule.status, 200);
  const ruleId = ((await rule.json()) as { id: string }).id;
  t.equal((await probeFrames(url(name, `?jwh=${handle}`), 5, 20_000)).frames, 0, "a Guardian IP deny refuses the play");
  t.equal(await decisions(edge, "play", "guardian_ip"), 1);
  t.equal((await edge.api(`/guardian/ip/${ruleId}`, { method: "DELETE" })).status, 204);

  // A running player allowed with the token: revoking the token drops it through rtmp_control.
  const player = play(url(name, `?jwh=${handle}`), { frames: 1_000_000, timeoutMs: 60_000 });
  t.teardown(() => player.child.kill("SIGKILL"));
  await waitFor("the player on nginx", async () => (await sessions(edge)).some((s) => s.role === "player"));
  const revokedAt = Date.now();
  t.equal((await edge.api("/api/v1/splay/revoke", { method: "POST", json: { token } })).status, 204);
  const playerEnded = await Promise.race([player.exited.then(() => Date.now() - revokedAt), new Promise<null>((r) => setTimeout(() => r(null), 1_000))]);
  t.ok(playerEnded !== null, `the player was dropped by nginx ${playerEnded} ms after the revocation`);
  t.notOk(
    (await sessions(edge)).some((s) => s.role === "player"),
    "and is gone from the session table",
  );

  // Lock: the publisher is dropped through the control module within 1 s.
  const lockedAt = Date.now();
  t.equal((await edge.api(`/stream/${id}/lock`, { method: "PUT" })).status, 200);
  const publisherEnded = await Promise.race([encoder.exited.then(() => Date.now() - lockedAt), new Promise<null>((r) => setTimeout(() => r(null), 1_000))]);
  t.ok(publisherEnded !== null, `the encoder was dropped by nginx ${publisherEnded} ms after the lock`);
  t.same(await sessions(edge), [], "no session left");
  const again = publish(url(name), { seconds: 10 });
  t.teardown(() => again.child.kill("SIGKILL"));
  t.not((await again.exited).code, 0, "a locked key cannot publish again");
});

t.test("without the control module, nginx's own on_update drops a locked publisher (notify_update_strict)", async (t) => {
  const edge = await startEdge(t);
  const hook = `http://127.0.0.1:${edge.addresses.api.port}/v1/hooks/nginx-rtmp`;
  const nginx = await startNginxRtmp(
    t,
    `    application live {
      live on;
      on_publish ${hook};
      on_publish_done ${hook};
      on_update ${hook};
      notify_update_timeout 1s;
      notify_update_strict on;
    }`,
  );
  const { id, name } = await edge.createStream();
  const encoder = publish(`rtmp://127.0.0.1:${nginx.rtmpPort}/live/${name}`, { seconds: 60 });
  t.teardown(() => encoder.child.kill("SIGKILL"));
  await waitFor("the publisher on nginx", async () => (await sessions(edge)).length === 1);
  // Updates come every second and are allowed while the key is fine.
  await new Promise((r) => setTimeout(r, 2_500));
  t.equal(encoder.child.exitCode, null, "kept through two updates");
  const lockedAt = Date.now();
  t.equal((await edge.api(`/stream/${id}/lock`, { method: "PUT" })).status, 200);
  await encoder.exited;
  const took = Date.now() - lockedAt;
  t.ok(took < 2_500, `dropped by nginx at its next update, ${took} ms after the lock`);
  t.match(nginx.errorLog(), /notify: update failed/, "nginx says the update was refused: no control module was involved");
});
