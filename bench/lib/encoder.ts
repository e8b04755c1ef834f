// The live encoder of bench:relay and bench:floor (issue 13 §7): a 720p30 stream at a constant
// 3 Mbit/s with a keyframe every 2 s, as streaming services ask of their encoders, through the
// tests' publisher (test/helpers/ffmpeg.ts, in real time). One definition, so the floor bench
// measures the stream the relay bench's origin ingests.
// env: RELAY_SIZE (1280x720), RELAY_FPS (30), RELAY_VIDEO_KBPS (3000), RELAY_GOP_S (2).
import { publish } from "../../test/helpers/ffmpeg.js";
import { envNumber } from "./stats.js";

const SIZE = process.env.RELAY_SIZE ?? "1280x720";
const FPS = envNumber("RELAY_FPS", 30);
const VIDEO_KBPS = envNumber("RELAY_VIDEO_KBPS", 3000);
const GOP_S = envNumber("RELAY_GOP_S", 2);

export const ENCODER = `${SIZE} ${FPS} fps H.264 CBR ${VIDEO_KBPS} kbit/s, keyframe every ${GOP_S} s, AAC 64 kbit/s`;

/** The encoder publishing to `url` for `seconds`; the caller kills its child. */
export const publishLive = (url: string, seconds: number) =>
  publish(url, { seconds, size: SIZE, fps: FPS, gop: FPS * GOP_S, videoBitrate: `${VIDEO_KBPS}k`, cbr: true });
