// The stream page's preview (issue 16 §3): HTTP-FLV through mpegts.js into a muted <video>. Loaded
// by a dynamic import from pages/stream.ts only, so the library (~60 KB gzip) is not in the
// initial script.
import mpegts from "mpegts.js";

export interface Preview {
  stop(): void;
}

/** Plays `url` into `video`; `onStop` hears, once, why the preview ended (the edge cut it, an error). */
export function startPreview(video: HTMLVideoElement, url: string, onStop: (why: string) => void): Preview {
  mpegts.LoggingControl.applyConfig({ enableAll: false, enableError: true });
  video.muted = true;
  const player = mpegts.createPlayer(
    { type: "flv", isLive: true, url },
    // No worker: the page's CSP stays 'self'; latency chasing keeps a preview near the live edge.
    { enableWorker: false, enableStashBuffer: false, liveBufferLatencyChasing: true },
  );
  let stopped = false;
  const stop = (why: string) => {
    if (stopped) return;
    stopped = true;
    player.pause();
    player.unload();
    player.detachMediaElement();
    player.destroy();
    onStop(why);
  };
  player.on(mpegts.Events.ERROR, (type: string, detail: string) => stop(`${type}: ${detail}`));
  // A live HTTP-FLV response only ends when the edge ends it: a rule, a kick, a lock, the publisher gone.
  player.on(mpegts.Events.LOADING_COMPLETE, () => stop("the edge ended the stream"));
  player.attachMediaElement(video);
  player.load();
  void video.play()?.catch(() => undefined);
  return { stop: () => stop("stopped") };
}
