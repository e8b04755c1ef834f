// Live updates (issue 16 §9): one `GET /v1/events` stream for the tab, read with fetch() so the key
// travels in a header. Snapshots go to whoever listens; each stream's ingest bitrate and viewer
// count are kept for the last five minutes, so a stream's chart has history when its page opens.
import { storedKey, type SessionJson } from "./api.js";

export interface Snapshot {
  at: string;
  sessions: SessionJson[];
  /** All running sessions; `sessions` holds the first 2000. */
  sessionsTotal: number;
  streams: { id: string; name: string; state: string }[] | null;
}

export interface Sample {
  at: number;
  kbps: number;
  viewers: number;
}

const HISTORY_MS = 5 * 60_000;
const listeners = new Set<(s: Snapshot) => void>();
const history = new Map<string, Sample[]>();
let last: Snapshot | null = null;
let lastBytes = new Map<string, { at: number; bytes: number }>();

export const latest = () => last;

/** The edge's own history of a stream (GET /v1/samples), kept where the tab has none of its own. */
export function seedHistory(stream: string, samples: Sample[]): void {
  const mine = history.get(stream) ?? [];
  const firstOwn = mine[0]?.at ?? Infinity;
  history.set(stream, [...samples.filter((s) => s.at < firstOwn && s.at >= Date.now() - HISTORY_MS), ...mine]);
}
export const samplesOf = (stream: string): Sample[] => history.get(stream) ?? [];

export function onSnapshot(listener: (s: Snapshot) => void): () => void {
  listeners.add(listener);
  if (last) listener(last);
  return () => listeners.delete(listener);
}

function record(s: Snapshot) {
  const at = Date.parse(s.at);
  const bytes = new Map<string, { at: number; bytes: number }>();
  const viewers = new Map<string, number>();
  for (const x of s.sessions) {
    if (x.role === "publisher") bytes.set(x.stream, { at, bytes: x.bytesIn });
    else if (x.role === "player") viewers.set(x.stream, (viewers.get(x.stream) ?? 0) + 1);
  }
  for (const [stream, now] of bytes) {
    const before = lastBytes.get(stream);
    const kbps = before && now.at > before.at && now.bytes >= before.bytes ? ((now.bytes - before.bytes) * 8) / (now.at - before.at) : 0;
    const list = history.get(stream) ?? [];
    list.push({ at, kbps, viewers: viewers.get(stream) ?? 0 });
    while (list.length && list[0].at < at - HISTORY_MS) list.shift();
    history.set(stream, list);
  }
  lastBytes = bytes;
}

/** Opens the stream; `onEnd` hears why the edge closed it ("revoked" = sign the page out). */
export function connectLive(onEnd: (reason: string) => void): () => void {
  const abort = new AbortController();
  let stopped = false;
  const run = async () => {
    while (!stopped) {
      let reason = "gone";
      try {
        const res = await fetch("/v1/events", { headers: { "X-BINTU-APIKEY": storedKey() ?? "" }, signal: abort.signal });
        if (res.status === 401) reason = "revoked";
        else if (res.ok && res.body) reason = await read(res.body);
      } catch {
        if (stopped) return;
      }
      if (reason === "revoked") return onEnd(reason);
      // Edge restarting or a blip: try again shortly.
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  void run();
  return () => {
    stopped = true;
    abort.abort();
  };
}

async function read(body: ReadableStream<Uint8Array>): Promise<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return "gone";
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const name = /^event: (.*)$/m.exec(event)?.[1];
      const data = /^data: (.*)$/m.exec(event)?.[1] ?? "null";
      if (name === "end") return (JSON.parse(data) as { reason: string }).reason;
      if (name === "snapshot") {
        last = JSON.parse(data) as Snapshot;
        record(last);
        for (const l of listeners) l(last);
      }
    }
  }
}
