// Reads an FLV file (Adobe FLV spec v10.1, Annex E) into tags, for the Node publishers that
// replay bench/.vendor/media.flv over raw RTMP at real time.
import { readFileSync } from "node:fs";

export interface FlvTag {
  type: 8 | 9 | 18; // audio, video, script data: the same numbers as RTMP message types
  timestamp: number; // ms
  data: Buffer; // tag body = RTMP message payload
  /** Sequence header (AVC/AAC packet type 0) or script data: sent once, not on loops. */
  header: boolean;
}

export function readFlv(path: string): { tags: FlvTag[]; durationMs: number; bytesPerSecond: number } {
  const buf = readFileSync(path);
  if (buf.toString("latin1", 0, 3) !== "FLV") throw new Error(`${path}: not an FLV file`);
  let p = buf.readUInt32BE(5) + 4; // header, then PreviousTagSize0
  const tags: FlvTag[] = [];
  let mediaBytes = 0;
  while (p + 11 <= buf.length) {
    const type = buf[p] & 0x1f;
    const size = buf.readUIntBE(p + 1, 3);
    const timestamp = buf.readUIntBE(p + 4, 3) | (buf[p + 7] << 24);
    const start = p + 11;
    if (start + size > buf.length) break; // truncated last tag
    const data = buf.subarray(start, start + size);
    p = start + size + 4;
    if (type !== 8 && type !== 9 && type !== 18) continue;
    const header = type === 18 || (type === 9 && (data[0] & 0x0f) === 7 && data[1] === 0) || (type === 8 && data[0] >> 4 === 10 && data[1] === 0);
    tags.push({ type, timestamp, data, header });
    if (!header) mediaBytes += size;
  }
  const media = tags.filter((t) => !t.header);
  if (media.length === 0) throw new Error(`${path}: no media tags`);
  // One frame interval past the last timestamp, so a loop does not repeat a timestamp.
  const last = media[media.length - 1].timestamp;
  const durationMs = last + Math.max(1, Math.round(last / Math.max(1, media.filter((t) => t.type === 9).length - 1)));
  return { tags, durationMs, bytesPerSecond: (mediaBytes / durationMs) * 1000 };
}
