// A remote bintu as the directory's stream source (bintu.mode: remote, issue 4 §1): nanoStream
// Cloud's API or another bintu-edge's embedded registry, reached with the organisation's API key.
//
// bintu documents no "find by name" (docs/nanostream.md §1.2). bintu-edge's registry adds an exact
// `GET /stream?streamname=NAME`; a server without it ignores the parameter and answers its normal
// newest-first list, i.e. streams with other names. The first such answer switches this source,
// for the life of the process, to an index of the stream list, re-read at most every
// `syncIntervalMs`. bintu documents no paging, only `quantity`, so the index holds the newest
// SYNC_QUANTITY streams: a key outside them is unknown (fail closed, never allowed).
//
// Every request has a deadline (never undici's 300 s default), no redirects are followed, and a
// body is read with a byte cap; any failure is a BintuRequestError whose `kind` feeds metrics.
import type { StreamInfo, StreamSource } from "./directory.js";
import { parseStreamList } from "./stream-schema.js";
import { BodyError, readCapped } from "../util/read-capped.js";

/** The largest list bintu-edge's registry returns; bintu's own maximum is not documented. */
const SYNC_QUANTITY = 1000;

export type RequestResult = "ok" | "timeout" | "network" | "aborted" | "http_3xx" | "http_4xx" | "http_5xx" | "too_large" | "bad_json" | "bad_schema";

export class BintuRequestError extends Error {
  constructor(
    readonly kind: Exclude<RequestResult, "ok">,
    message: string,
  ) {
    super(`bintu: ${message}`);
  }
}

export interface RemoteSourceOptions {
  /** Base URL, e.g. https://bintu.nanocosmos.de; `/stream` is appended. */
  url: string;
  /** Sent as X-BINTU-APIKEY; never logged, never part of an error message. */
  apiKey: string;
  timeoutMs: number;
  maxResponseBytes: number;
  syncIntervalMs: number;
  fetch?: typeof fetch;
  /** Monotonic milliseconds (sync age, request latency). */
  now?: () => number;
  /** One call per HTTP request, for metrics: its result and duration in ms. */
  onRequest?: (result: RequestResult, ms: number) => void;
}

export type LookupMode = "filter" | "sync";

export interface RemoteSource extends StreamSource {
  /** "filter" until the server shows it ignores `streamname`, then "sync". */
  readonly mode: LookupMode;
}

interface Index {
  readonly at: number;
  readonly byName: ReadonlyMap<string, StreamInfo>;
}

export function remoteSource(opts: RemoteSourceOptions): RemoteSource {
  const base = new URL(opts.url);
  if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error(`bintu.url: expected http(s), got ${base.protocol}`);
  const root = base.href.replace(/\/+$/, "");
  const fetchFn = opts.fetch ?? fetch;
  const now = opts.now ?? (() => performance.now());
  const headers = { "X-BINTU-APIKEY": opts.apiKey, accept: "application/json" };

  let mode: LookupMode = "filter";
  let index: Index | undefined;
  let syncing: Promise<Index> | undefined;

  async function getStreams(query: URLSearchParams, callerSignal?: AbortSignal): Promise<StreamInfo[]> {
    const deadline = AbortSignal.timeout(opts.timeoutMs);
    const signal = callerSignal ? AbortSignal.any([callerSignal, deadline]) : deadline;
    const started = now();
    try {
      const json = await request(`${root}/stream?${query}`, signal);
      const parsed = parseStreamList(json);
      if (!parsed.ok) throw new BintuRequestError("bad_schema", parsed.reason);
      opts.onRequest?.("ok", now() - started);
      return parsed.value;
    } catch (err) {
      const failure = classify(err, deadline);
      opts.onRequest?.(failure.kind, now() - started);
      throw failure;
    }
  }

  async function request(url: string, signal: AbortSignal): Promise<unknown> {
    // redirect "manual": a 3xx is an answer we do not understand, not a hop to follow.
    const res = await fetchFn(url, { headers, signal, redirect: "manual" });
    if (res.status < 200 || res.status > 299) {
      // Not reading the body: cancelling it closes the connection instead of draining it.
      void res.body?.cancel().catch(() => {});
      const kind = res.status < 400 ? "http_3xx" : res.status < 500 ? "http_4xx" : "http_5xx";
      throw new BintuRequestError(kind, `HTTP ${res.status}`);
    }
    const text = await readCapped(res, opts.maxResponseBytes).catch((err: unknown) => {
      if (err instanceof BodyError) throw new BintuRequestError(err.kind === "too_large" ? "too_large" : "bad_json", err.message);
      throw err;
    });
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new BintuRequestError("bad_json", "response is not JSON");
    }
  }

  async function sync(): Promise<Index> {
    // Shared by every lookup that needs it, so no caller's signal: only the deadline ends it.
    const list = await getStreams(new URLSearchParams({ quantity: String(SYNC_QUANTITY) }));
    return (index = indexOf(list));
  }

  function indexOf(list: readonly StreamInfo[]): Index {
    return { at: now(), byName: new Map(list.map((s) => [s.name, s])) };
  }

  async function fromIndex(name: string): Promise<StreamInfo | null> {
    let current = index;
    if (!current || now() - current.at >= opts.syncIntervalMs) {
      syncing ??= sync().finally(() => (syncing = undefined));
      current = await syncing;
    }
    return current.byName.get(name) ?? null;
  }

  return {
    get mode() {
      return mode;
    },
    async findByName(name, signal) {
      if (mode === "sync") return fromIndex(name);
      // `quantity` is ignored by a server that filters; one that does not answers the list the
      // index needs, so detecting the fallback costs no second request.
      const query = new URLSearchParams({ streamname: name, quantity: String(SYNC_QUANTITY) });
      const list = await getStreams(query, signal);
      if (list.some((s) => s.name !== name)) {
        mode = "sync";
        index = indexOf(list);
        return index.byName.get(name) ?? null;
      }
      if (list.length > 1) throw new BintuRequestError("bad_schema", "several streams with one name");
      return list[0] ?? null;
    },
    // bintu owns stream state: it sees the ingest itself and moves created/ended → live → ended.
    // An edge has no documented call to report it, so in remote mode these do nothing.
    reportLive: async () => {},
    reportEnded: async () => {},
    // bintu pushes nothing; live sessions are re-checked by the revalidator instead.
    onChange: () => () => {},
  };
}

/** The body as text, aborting once it passes `max` bytes (announced or actually sent). */
/** Any failure → a BintuRequestError with a short reason (no URL: it may carry a stream name). */
function classify(err: unknown, deadline: AbortSignal): BintuRequestError {
  if (err instanceof BintuRequestError) return err;
  const name = (err as Error)?.name;
  if (deadline.aborted) return new BintuRequestError("timeout", "no answer within the deadline");
  if (name === "AbortError") return new BintuRequestError("aborted", "request aborted");
  const cause = (err as { cause?: { code?: string } })?.cause?.code;
  return new BintuRequestError("network", cause ? `connection failed (${cause})` : "connection failed");
}
