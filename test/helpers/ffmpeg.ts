// ffmpeg as the real encoder and player (installed by scripts/install-test-deps.sh).
import { spawn, type ChildProcess } from "node:child_process";

export interface Run {
  child: ChildProcess;
  /** Resolves when the process exits: its code and what it printed. */
  exited: Promise<{ code: number | null; stderr: string; stdout: string }>;
}

function run(cmd: string, args: string[], timeoutMs: number): Run {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let stdout = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exited = new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    }),
  );
  return { child, exited };
}

/**
 * A synthetic H.264 + AAC stream pushed in real time, like OBS would, until `seconds` or killed.
 * `cbr` (with `videoBitrate`) holds the bitrate constant with filler, as OBS's CBR mode does: the test
 * pattern alone compresses far below any target.
 */
export function publish(url: string, opts: { seconds?: number; size?: string; videoBitrate?: string; fps?: number; gop?: number; cbr?: boolean } = {}): Run {
  const { seconds = 30, size = "320x240", videoBitrate, fps = 25, gop = 25, cbr = false } = opts;
  const rate = videoBitrate ? ["-b:v", videoBitrate] : [];
  const constant = videoBitrate && cbr ? ["-minrate", videoBitrate, "-maxrate", videoBitrate, "-bufsize", videoBitrate, "-x264-params", "nal-hrd=cbr"] : [];
  return run(
    "ffmpeg",
    [
      "-hide_banner",
      "-loglevel",
      "error",
      "-re",
      "-f",
      "lavfi",
      "-i",
      `testsrc=size=${size}:rate=${fps}`,
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:sample_rate=44100",
      "-t",
      String(seconds),
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-tune",
      "zerolatency",
      "-g",
      String(gop),
      ...rate,
      ...constant,
      "-pix_fmt",
      "yuv420p",
      "-c:a",
      "aac",
      "-b:a",
      "64k",
      "-f",
      "flv",
      url,
    ],
    (seconds + 20) * 1000,
  );
}

export interface ProbedStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
}

/** Reads the stream with ffprobe: the codecs and picture size a new viewer sees. */
export async function probe(url: string, timeoutMs = 15_000): Promise<{ code: number | null; streams: ProbedStream[]; stderr: string }> {
  const { exited } = run("ffprobe", ["-v", "error", "-rw_timeout", "10000000", "-show_streams", "-of", "json", url], timeoutMs);
  const { code, stdout, stderr } = await exited;
  const streams = code === 0 ? ((JSON.parse(stdout) as { streams: ProbedStream[] }).streams ?? []) : [];
  return { code, streams: streams.filter((s) => s.codec_type === "video" || s.codec_type === "audio"), stderr };
}

/** Decodes `frames` video frames as a player would; exit code 0 means they arrived and decoded. */
export function play(url: string, opts: { frames?: number; timeoutMs?: number } = {}): Run {
  const { frames = 25, timeoutMs = 20_000 } = opts;
  return run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-rw_timeout", "10000000", "-i", url, "-frames:v", String(frames), "-f", "null", "-"], timeoutMs);
}

/** Reads `frames` video frames with ffprobe (following HTTP redirects); resolves with how many arrived. */
export async function probeFrames(url: string, frames = 10, timeoutMs = 20_000): Promise<{ code: number | null; frames: number; stderr: string }> {
  const { exited } = run(
    "ffprobe",
    [
      "-v",
      "error",
      "-rw_timeout",
      "10000000",
      "-select_streams",
      "v:0",
      "-read_intervals",
      `%+#${frames}`,
      "-show_entries",
      "frame=pict_type",
      "-of",
      "json",
      url,
    ],
    timeoutMs,
  );
  const { code, stdout, stderr } = await exited;
  const read = code === 0 ? ((JSON.parse(stdout) as { frames?: unknown[] }).frames ?? []).length : 0;
  return { code, frames: read, stderr };
}
