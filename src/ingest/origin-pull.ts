// Origin pull (issue 13): a play on this edge of a stream live on another edge pulls it from there,
// once per stream however many viewers come, and fans it out through node-media-server's broadcast
// hub as if a local encoder published it — so HTTP-FLV and RTMP players, the GOP cache and the
// slow-consumer bound work unchanged.
//
// Transport: HTTP-FLV from the origin's playback port. The origin already serves it (its own server,
// not NMS's, docs/node-media-server.md §10), NMS's FLV demuxer turns it into the packets its
// broadcast takes, it is one GET (no handshake, connect, createStream, play round trips), its TLS
// trusts what the edge's other outbound calls trust (the system store and tls.caFile), and an HTTP
// status refuses a pull plainly (401 credential, 404 not published there).
// The GET is Node's http / https client read through 'data' events, not fetch: fetch's body passes
// every chunk through undici's JS-side HTTP parser, a Node stream, a WHATWG stream and promises,
// which made a pulling edge spend about 1.3× the CPU of the same pull read this way (720p30 at
// 3 Mbit/s, ~73 chunks a second: bench/README.md, `bench:relay`). NMS's own relay (RTMP client) is not used:
// its tasks persist, never idle out and notice a dead origin after a minute (docs/decisions.md).
//
// Lifecycle, as the MediaMTX / OvenMediaEngine / SRS lessons of the issue ask:
// - single flight: the first viewer starts the pull, every later one joins it; viewers wait until
//   the first keyframe has *arrived* (an origin answers 200 before it has media) and start there;
// - no keyframe within `startTimeoutMs` → every waiting viewer is refused as "not live";
// - after the last viewer leaves the pull lingers `lingerMs`, and a returning viewer keeps it (SRS
//   stopped at once and refused the quick re-play, ossrs/srs#1884);
// - the origin gone, refusing, ended or silent for `stallMs` → ask where the stream is now (the
//   publisher may have moved to any edge) and reconnect with full-jitter backoff; the viewers
//   stay attached and carry on with the new origin's media; after `giveUpMs` without media they
//   are ended as local viewers are when a publisher leaves (EDGE_ERR_PUBLISHER_GONE).
import http from "node:http";
import https from "node:https";
import type { EdgeSession } from "../access/access.js";
import type { ErrorCode } from "../errors.js";
import { streamRef, type Logger } from "../log.js";
import { nms, type NmsAvPacket, type NmsBroadcast, type NmsPublisher } from "./nms.js";

export interface OriginPullOptions {
  /** Base URLs of the playback ports that may carry the stream now (`http://host:port`), asked in order. */
  origins(app: string, name: string): readonly string[];
  /** The edge credential for one stream path (src/auth/edge-credential.ts). */
  credential(path: string): string;
  /** The CAs an https origin is verified against (the system store and tls.caFile); absent = Node's default store. */
  ca?: readonly string[];
  lingerMs: number;
  startTimeoutMs: number;
  stallMs: number;
  giveUpMs: number;
  maxGopCacheBytes: number;
  log: Logger;
  /**
   * Told when a pull starts (an upstream connection opens), when an attempt fails — no answer
   * (`error`) or a status other than 200 and 404 "not here" (`refused`) — and when it ends.
   */
  events?: {
    connected?(app: string, name: string, origin: string): void;
    failed?(origin: string, result: "error" | "refused"): void;
    ended?(app: string, name: string, reason: string): void;
  };
}

/** A viewer's hold on a pull: ready once media arrived (false: none in time), released when the viewer leaves. */
export interface PullLease {
  readonly ready: Promise<boolean>;
  /** The running session this lease feeds: ended by the pull when it gives up. */
  adopt(session: EdgeSession): void;
  release(): void;
}

const WATCH_MS = 250;
const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 2_000;
/** Added to the last dts when a new origin's timeline is spliced on, so time never goes back. */
const SPLICE_GAP_MS = 40;

export class OriginPulls {
  private readonly pulls = new Map<string, Pull>();

  constructor(private readonly opts: OriginPullOptions) {}

  /** Joins the stream's pull, starting it when there is none (one per stream and edge). */
  acquire(app: string, name: string): PullLease {
    const path = `/${app}/${name}`;
    let pull = this.pulls.get(path);
    if (!pull) {
      pull = new Pull(app, name, this.opts, () => this.pulls.delete(path));
      this.pulls.set(path, pull);
      pull.start();
    }
    return pull.lease();
  }

  /**
   * A publisher of the stream was accepted here (the key's owner moved to this edge): the pull gives
   * the path up at once, and its viewers stay on the broadcast as players of the local publisher.
   */
  yieldTo(app: string, name: string): void {
    this.pulls.get(`/${app}/${name}`)?.end("published here", null);
  }

  /** Streams pulled now (for tests and the dashboard). */
  get size(): number {
    return this.pulls.size;
  }

  close(): void {
    for (const pull of [...this.pulls.values()]) pull.end("shutdown", "EDGE_ERR_SHUTDOWN");
  }
}

type PullState = "starting" | "live" | "ended";

class Pull {
  private state: PullState = "starting";
  private holders = 0;
  private readonly viewers = new Set<EdgeSession>();
  private readonly source: NmsPublisher;
  private broadcast: NmsBroadcast | null = null;
  private upstream: AbortController | null = null;
  private origin: string | null = null;
  private readonly startedAt = Date.now();
  private lastMediaAt = Date.now();
  private connecting = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  private readonly watchTimer: NodeJS.Timeout;
  private resolveReady!: (ok: boolean) => void;
  private readonly ready = new Promise<boolean>((resolve) => (this.resolveReady = resolve));
  /** Timestamp splice across origins: offset added to every dts / pts, and the last dts sent. */
  private dtsOffset = 0;
  private lastDts: number | null = null;
  private spliceNext = false;

  constructor(
    private readonly app: string,
    private readonly name: string,
    private readonly opts: OriginPullOptions,
    private readonly forget: () => void,
  ) {
    const path = `/${app}/${name}`;
    // A unique address: NMS would take a publisher of the same address within its grace window for a resume.
    this.source = { id: `relay-${Math.random().toString(36).slice(2)}`, ip: `relay:${path}`, protocol: "flv", streamPath: path, playCount: 0 };
    this.watchTimer = setInterval(() => this.watch(), WATCH_MS);
    this.watchTimer.unref();
  }

  /** A getter, so a check after an await reads the state now (TypeScript narrows a field read). */
  private get over(): boolean {
    return this.state === "ended";
  }

  start(): void {
    const broadcast = nms.openBroadcast(this.source.streamPath);
    // Another publisher holds the path here (a local encoder won a race): nothing to pull.
    if (broadcast.postPublish(this.source) !== null) return this.end("path taken", "EDGE_ERR_STREAM_NOT_LIVE");
    broadcast.publishGraceMs = 0;
    broadcast.maxGopCacheBytes = this.opts.maxGopCacheBytes;
    this.broadcast = broadcast;
    void this.connect();
  }

  lease(): PullLease {
    this.holders++;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    let held = true;
    let adopted: EdgeSession | null = null;
    return {
      ready: this.ready,
      adopt: (session) => {
        adopted = session;
        this.viewers.add(session);
      },
      release: () => {
        if (!held) return;
        held = false;
        if (adopted) this.viewers.delete(adopted);
        this.holders--;
        if (this.holders === 0 && this.state !== "ended") {
          this.lingerTimer = setTimeout(() => this.end("linger over", null), this.opts.lingerMs);
          this.lingerTimer.unref();
        }
      },
    };
  }

  /** Ends the pull; viewers still attached are ended with `code` (null: they stay on the broadcast). */
  end(reason: string, code: ErrorCode | null): void {
    if (this.over) return;
    const wasLive = this.state === "live";
    this.state = "ended";
    this.forget();
    clearInterval(this.watchTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.upstream?.abort();
    this.upstream = null;
    this.resolveReady(false);
    if (code) for (const viewer of [...this.viewers]) viewer.end(code);
    this.viewers.clear();
    // Finished now, not on NMS's next-tick grace timer: an encoder taking the path right after
    // (yieldTo) would otherwise find the hub unregistered by that late finish.
    if (this.broadcast?.publisher === this.source) this.broadcast._finishPublish();
    this.opts.log.info("origin pull ended", { stream: streamRef(this.name), reason, live: wasLive });
    this.opts.events?.ended?.(this.app, this.name, reason);
  }

  /** Every WATCH_MS: the start deadline, a silent origin, a publisher that moved, and giving up. */
  private watch(): void {
    if (this.over) return;
    const now = Date.now();
    if (this.state === "starting" && now - this.startedAt > this.opts.startTimeoutMs) return this.end("no media in time", "EDGE_ERR_STREAM_NOT_LIVE");
    if (this.state === "live" && now - this.lastMediaAt > this.opts.giveUpMs) return this.end("no origin", "EDGE_ERR_PUBLISHER_GONE");
    if (!this.upstream || this.connecting) return;
    if (now - this.lastMediaAt > this.opts.stallMs) return this.drop("stalled");
    // The fleet names another edge for the stream now (the publisher moved): follow it at once.
    const origins = this.opts.origins(this.app, this.name);
    if (origins.length > 0 && this.origin !== null && !origins.includes(this.origin)) this.drop("publisher moved");
  }

  /** The current upstream is given up: reconnect now (its own failure path schedules nothing twice). */
  private drop(why: string): void {
    this.opts.log.info("origin pull upstream dropped", { stream: streamRef(this.name), origin: this.origin, why });
    this.upstream?.abort();
    this.upstream = null;
  }

  private retryLater(): void {
    if (this.over || this.retryTimer) return;
    // Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): edges that lost one
    // origin together do not come back in step.
    const ms = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, ms);
    this.retryTimer.unref();
  }

  /** Tries each origin named now, in order; the first that answers 200 feeds the broadcast. */
  private async connect(): Promise<void> {
    if (this.over || this.connecting) return;
    this.connecting = true;
    const path = this.source.streamPath;
    // Origins that answered "not here" (a status, not a failure to connect): when every one did on
    // a pull that has not started, the viewers are told at once instead of at the start deadline.
    let refusals = 0;
    const origins = this.opts.origins(this.app, this.name);
    try {
      for (const origin of origins) {
        if (this.over) return;
        const abort = new AbortController();
        const url = `${origin}${path}.flv?edgeauth=${encodeURIComponent(this.opts.credential(path))}`;
        const connectTimer = setTimeout(() => abort.abort(), this.opts.stallMs);
        let res: http.IncomingMessage;
        try {
          res = await this.get(url, abort.signal);
        } catch (err) {
          this.opts.log.debug("origin pull connect failed", { origin, detail: (err as Error).message });
          this.opts.events?.failed?.(origin, "error");
          continue;
        } finally {
          clearTimeout(connectTimer);
        }
        if (res.statusCode !== 200) {
          this.opts.log.info("origin pull refused", { stream: streamRef(this.name), origin, status: res.statusCode });
          // 404 is the origin saying "not live here" (the stream ended or moved), not a failure.
          if (res.statusCode !== 404) this.opts.events?.failed?.(origin, "refused");
          refusals++;
          res.destroy();
          continue;
        }
        if (this.over) return void abort.abort();
        this.upstream = abort;
        this.origin = origin;
        this.lastMediaAt = Math.max(this.lastMediaAt, Date.now() - this.opts.stallMs / 2);
        this.spliceNext = this.lastDts !== null;
        this.opts.events?.connected?.(this.app, this.name, origin);
        this.opts.log.info("origin pull connected", { stream: streamRef(this.name), origin });
        this.connecting = false;
        await this.read(res, abort);
        return;
      }
    } finally {
      this.connecting = false;
    }
    if (this.state === "starting" && refusals === origins.length) return this.end("no origin has it", "EDGE_ERR_STREAM_NOT_LIVE");
    this.retryLater();
  }

  /** The pull's GET: resolves with the answer's head; the request's errors (refused, aborted, reset) reject or end the body. */
  private get(url: string, signal: AbortSignal): Promise<http.IncomingMessage> {
    const headers = { "user-agent": "bintu-edge-pull" };
    return new Promise((resolve, reject) => {
      const req = url.startsWith("https:")
        ? https.get(url, { signal, headers, ...(this.opts.ca ? { ca: [...this.opts.ca] } : {}) }, resolve)
        : http.get(url, { signal, headers }, resolve);
      req.on("error", reject);
    });
  }

  /** Demuxes one upstream until it ends, then looks for the stream again. */
  private async read(body: http.IncomingMessage, abort: AbortController): Promise<void> {
    const parser = nms.createFlvParser();
    parser.onPacketCallback = (pkt) => this.onPacket(pkt);
    try {
      // Settles once: at the end of the body, on its error (a reset or a cut chunked body is one
      // in Node's client), on a chunk that is not FLV, or when the pull drops this upstream.
      await new Promise<void>((resolve, reject) => {
        const stop = () => {
          body.destroy();
          resolve();
        };
        if (abort.signal.aborted) return stop();
        abort.signal.addEventListener("abort", stop, { once: true });
        body.on("data", (chunk: Buffer) => {
          if (abort.signal.aborted || this.over) return stop();
          // A throw in an event listener would take the process down: it ends this upstream instead.
          let err: string | null;
          try {
            err = parser.parserData(chunk);
          } catch (thrown) {
            err = (thrown as Error).message;
          }
          if (err === null) return;
          reject(new Error(err));
          body.destroy();
        });
        body.on("error", reject);
        body.on("close", () => resolve());
      });
    } catch (err) {
      if (!abort.signal.aborted) this.opts.log.info("origin pull upstream failed", { stream: streamRef(this.name), detail: (err as Error).message });
    }
    abort.abort();
    if (this.upstream === abort) this.upstream = null;
    this.retryLater();
  }

  private onPacket(pkt: NmsAvPacket): void {
    if (this.over || !this.broadcast) return;
    const isMedia = pkt.codec_type === 8 || pkt.codec_type === 9;
    if (isMedia) {
      // A new origin's timeline continues the last one's, so players see time move forward.
      if (this.spliceNext) {
        this.spliceNext = false;
        this.dtsOffset = this.lastDts! + SPLICE_GAP_MS - pkt.dts;
      }
      pkt.dts += this.dtsOffset;
      pkt.pts += this.dtsOffset;
      this.lastDts = pkt.dts;
      this.lastMediaAt = Date.now();
      this.attempt = 0;
    }
    this.broadcast.broadcastMessage(pkt);
    // flags 3: a video keyframe (NMS protocol/flv.js parserTag). Viewers start from it.
    if (this.state === "starting" && pkt.codec_type === 9 && pkt.flags === 3) {
      this.state = "live";
      this.resolveReady(true);
    }
  }
}
