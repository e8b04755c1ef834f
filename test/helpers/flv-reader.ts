// A light HTTP-FLV player for tests that need many at once (an ffmpeg each would eat the CPU of the
// 2-core machine): it reads the stream and counts whole FLV tags (FLV spec v10.1, annex E), so a
// test can tell that video kept arriving, and when the edge ended the response.

export interface FlvReader {
  /** HTTP status of the answer; 0 until headers arrived or when the request failed. */
  status: number;
  videoTags: number;
  bytes: number;
  /** True once the response ended (by the server, or stop()). */
  done: boolean;
  readonly ended: Promise<void>;
  stop(): void;
}

export function flvReader(url: string, init: RequestInit = {}): FlvReader {
  const abort = new AbortController();
  let pending = Buffer.alloc(0);
  let headerSkipped = false;
  const reader: FlvReader = {
    status: 0,
    videoTags: 0,
    bytes: 0,
    done: false,
    ended: Promise.resolve(),
    stop: () => abort.abort(),
  };
  const count = (chunk: Uint8Array) => {
    reader.bytes += chunk.byteLength;
    pending = Buffer.concat([pending, chunk]);
    if (!headerSkipped) {
      if (pending.length < 13) return; // 9-byte header + PreviousTagSize0
      pending = pending.subarray(13);
      headerSkipped = true;
    }
    while (pending.length >= 11) {
      const size = pending.readUIntBE(1, 3);
      if (pending.length < 11 + size + 4) return;
      if (pending[0] === 9) reader.videoTags++;
      pending = pending.subarray(11 + size + 4);
    }
  };
  (reader as { ended: Promise<void> }).ended = (async () => {
    try {
      const res = await fetch(url, { ...init, signal: abort.signal });
      reader.status = res.status;
      if (res.status === 200 && res.body) for await (const chunk of res.body) count(chunk);
    } catch {
      // aborted or reset: the read is over either way
    }
    reader.done = true;
  })();
  return reader;
}
