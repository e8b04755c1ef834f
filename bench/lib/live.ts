// Waits for a stream to be live on a server, as a player sees it: shared by the benches that
// start a publisher and must not measure before media flows.
import { RawRtmpClient } from "../../test/helpers/rtmp-client.js";
import { sleep } from "./stats.js";

/** Waits until a probe player receives video from the stream (the server knows it is live). */
export async function waitLive(port: number, name: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    let c: RawRtmpClient | undefined;
    try {
      c = await RawRtmpClient.connect(port, "127.0.0.1", { queueMedia: false, timeoutMs: 3000 });
      await c.handshake();
      await c.connectApp("live");
      const st = await c.play(await c.createStream(), name);
      if (st.code === "NetStream.Play.Start") {
        for (let i = 0; i < 30 && c.mediaCounts().video.messages === 0; i++) await sleep(100);
        if (c.mediaCounts().video.messages > 0) return;
        last = "Play.Start but no video in 3 s";
      } else last = st.code;
    } catch (e) {
      last = (e as Error).message;
    } finally {
      c?.destroy();
    }
    await sleep(300);
  }
  throw new Error(`stream not live after ${timeoutMs} ms (${last})`);
}
