// HTTP-FLV playback on the playback port: `GET /APP/NAME.flv?jwtoken=…`.
// The edge serves it itself instead of NMS's express server, which 4.4.3 lets crash on
// `GET /live/a%2Eb.flv`, answers a refused play with 200 and an empty body, accepts HTTP-POST and
// WebSocket publishing, and writes every FLV tag with its own res.write. Here only a GET of a
// valid play path reaches the broadcast; refusals are real statuses with `{ code, reason }`;
// writes are batched per event-loop turn; a player that stops reading is dropped.
import type http from "node:http";
import https from "node:https";
import type tls from "node:tls";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import type { AccessControl, AccessRequest, Allowed, EdgeSession } from "../access/access.js";
import type { LiveSessionPolicy } from "../access/live-session-policy.js";
import { httpClientIp, type TrustedProxies } from "../primitives/client-ip.js";
import { parsePlayPath } from "../primitives/stream-key.js";
import { ERRORS, errorBody, type ErrorCode } from "../errors.js";
import { streamRef, type Logger } from "../log.js";
import type { Metrics } from "../metrics/metrics.js";
import { createHttpServer, rawErrorAnswer, type HttpLimits } from "../front/http-server.js";
import { listen } from "./listen.js";
import { nms, type NmsBroadcast, type NmsSubscriber } from "./nms.js";
import type { OriginPulls } from "./origin-pull.js";

/**
 * What this edge needs to serve another edge's pull (issue 13 §2), declared here by its user: the
 * credential check (src/auth/edge-credential.ts through the fleet's keys) and the local publisher.
 */
export interface RelayGate {
  verify(token: string, path: string): { ok: true; edge: string } | { ok: false; code: ErrorCode };
  /** The publisher of this path on this edge itself; never a pulled stream, so pulls take one hop. */
  publisherOf(app: string, name: string): EdgeSession | undefined;
}

export interface FlvPlaybackOptions {
  maxPendingBytes: number;
  /** Connection caps and deadlines of the playback port (issue 18). */
  limits: HttpLimits;
  trustedProxies: TrustedProxies;
  access: AccessControl;
  /** Told when a player starts and ends; it decides when running sessions end. */
  sessions: Pick<LiveSessionPolicy, "started" | "ended">;
  metrics: Metrics;
  log: Logger;
  /** Wall-clock ms for session start times (the policy's clock). */
  now: () => number;
  /** HTTPS with this certificate (issue 15); absent = plain HTTP. */
  tls?: { options: tls.SecureContextOptions; handshakeTimeoutMs: number };
  /** Pulls of streams live on another edge (issue 13); absent = none. */
  pulls?: OriginPulls | null;
  /** Serving other edges' pulls (issue 13); absent = a pull is refused as not found. */
  relays?: RelayGate | null;
}

export class FlvPlayback {
  private readonly server: http.Server | https.Server;

  constructor(private readonly opts: FlvPlaybackOptions) {
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(req, res).catch((err: Error) => {
        opts.log.error("flv request failed", { detail: err.message });
        this.reply(res, "EDGE_ERR_INTERNAL");
      });
    };
    // Caps at accept, deadlines and Node's refusals in the envelope: src/front/http-server.ts.
    // The TLS handshake is bounded like RTMP's (rtmp.limits.handshakeTimeoutMs), not Node's 120 s.
    this.server = createHttpServer(onRequest, { protocol: "flv", limits: opts.limits, metrics: opts.metrics, log: opts.log, tls: opts.tls });
    // WS-FLV is not served: an upgrade gets a 404 and never reaches a media session.
    this.server.on("upgrade", (_req, socket) => {
      socket.on("error", () => {});
      socket.end(rawErrorAnswer("EDGE_ERR_NOT_FOUND", "WebSocket playback is not served"));
    });
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return listen(this.server, port, host);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** A new certificate for new connections; players already connected keep theirs. */
  setSecureContext(options: tls.SecureContextOptions): void {
    if (this.server instanceof https.Server) this.server.setSecureContext(options);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") return this.reply(res, "EDGE_ERR_BAD_REQUEST", "only GET");
    const target = parsePlayPath(req.url ?? "", true);
    if (!target) return this.reply(res, "EDGE_ERR_NOT_FOUND");
    if (!target.ok) return this.reply(res, target.error);
    const { app, name, query } = target.value;
    // Another edge pulling (issue 13): its credential instead of a viewer's checks.
    if (query.edgeauth !== undefined) return this.serveRelay(req, res, app, name, query.edgeauth);

    const ip = httpClientIp(req.socket.remoteAddress, req.headers["x-forwarded-for"], this.opts.trustedProxies);
    const { referer, origin } = req.headers;
    const request: AccessRequest = { action: "play", protocol: "flv", media: "here", app, name, query, ip, referer, origin };
    const decision = await this.opts.access.check(request);
    const code = decision.allow ? null : decision.code;
    this.opts.metrics.decisions.inc({
      action: "play",
      protocol: "flv",
      result: code ? "deny" : "allow",
      reason: code ? ERRORS[code].reason : "ok",
    });
    if (!decision.allow) return this.reply(res, decision.code);
    // Live on another edge: join (or start) this edge's pull and wait for its first keyframe.
    const lease = decision.pull && this.opts.pulls ? this.opts.pulls.acquire(app, name) : null;
    if (lease) {
      const left = () => lease.release();
      res.once("close", left);
      const ready = await lease.ready;
      res.off("close", left);
      if (!ready || res.destroyed) {
        lease.release();
        return this.reply(res, "EDGE_ERR_STREAM_NOT_LIVE");
      }
    }
    const broadcast = nms.broadcastOf(`/${app}/${name}`);
    if (!broadcast || res.destroyed) {
      lease?.release();
      return this.reply(res, "EDGE_ERR_STREAM_NOT_LIVE");
    }

    res.writeHead(200, {
      "Content-Type": "video/x-flv",
      "Cache-Control": "no-store",
      "Access-Control-Allow-Origin": "*",
    });
    if (req.method === "HEAD") {
      lease?.release();
      return void res.end();
    }
    const player = new FlvPlayer(res, request, decision, this.opts);
    lease?.adopt(player.session);
    this.attach(res, broadcast, player, () => lease?.release());
    this.opts.log.info("flv player started", { session: player.id, app, stream: streamRef(name), pulled: lease !== null });
    this.opts.log.debug("flv player key", { session: player.id, stream: name });
  }

  /** Another edge pulls a stream published here: one hop, its credential checked, no viewer rules. */
  private serveRelay(req: http.IncomingMessage, res: http.ServerResponse, app: string, name: string, token: string): void {
    const { relays } = this.opts;
    if (!relays) return this.reply(res, "EDGE_ERR_NOT_FOUND");
    const path = `/${app}/${name}`;
    const check = relays.verify(token, path);
    if (!check.ok) return this.reply(res, check.code);
    const publisher = relays.publisherOf(app, name);
    const broadcast = nms.broadcastOf(path);
    if (!publisher || publisher.foreign || !broadcast) return this.reply(res, "EDGE_ERR_STREAM_NOT_LIVE");
    res.writeHead(200, { "Content-Type": "video/x-flv", "Cache-Control": "no-store" });
    if (req.method === "HEAD") return void res.end();
    const ip = httpClientIp(req.socket.remoteAddress, undefined, this.opts.trustedProxies);
    const request: AccessRequest = { action: "play", protocol: "flv", media: "here", app, name, query: {}, ip };
    const relay = new FlvPlayer(res, request, { allow: true, stream: publisher.decision.stream }, this.opts, check.edge);
    this.attach(res, broadcast, relay, () => {});
    this.opts.log.info("relay started", { session: relay.id, app, stream: streamRef(name), edge: check.edge });
  }

  private attach(res: http.ServerResponse, broadcast: NmsBroadcast, player: FlvPlayer, released: () => void): void {
    this.opts.sessions.started(player.session);
    res.on("close", () => {
      broadcast.donePlay(player);
      this.opts.sessions.ended(player.session);
      released();
    });
    broadcast.postPlay(player);
  }

  private reply(res: http.ServerResponse, code: ErrorCode, detail?: string): void {
    if (res.headersSent || res.destroyed) return;
    const body = JSON.stringify(errorBody(code, detail));
    res.writeHead(ERRORS[code].http, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  }
}

/** One HTTP-FLV player as NMS's BroadcastServer sees a subscriber. */
class FlvPlayer implements NmsSubscriber {
  readonly id = randomUUID();
  readonly protocol = "flv" as const;
  readonly streamPath: string;
  readonly session: EdgeSession;
  private bytesOut = 0;
  private corked = false;

  readonly ip: string;

  constructor(
    private readonly res: http.ServerResponse,
    request: AccessRequest,
    decision: Allowed,
    private readonly opts: FlvPlaybackOptions,
    /** Set for a relay: the edge that pulls. */
    peer?: string,
  ) {
    const { app, name, ip } = request;
    this.ip = ip;
    this.streamPath = `/${app}/${name}`;
    this.session = {
      id: this.id,
      role: peer === undefined ? "player" : "relay",
      ...(peer === undefined ? {} : { peer }),
      protocol: "flv",
      app,
      name,
      ip,
      startedAt: opts.now(),
      bytesIn: () => 0,
      bytesOut: () => this.bytesOut,
      end: (code) => this.end(code),
      request,
      decision,
    };
  }

  /** Called by the broadcast for every FLV tag; tags of one event-loop turn go out in one write. */
  sendBuffer = (buf: Buffer): void => {
    const res = this.res;
    if (res.destroyed) return;
    if (res.writableLength > this.opts.maxPendingBytes) return this.end("EDGE_ERR_SLOW_CONSUMER");
    if (!this.corked) {
      this.corked = true;
      res.cork();
      process.nextTick(() => {
        this.corked = false;
        res.uncork();
      });
    }
    res.write(buf);
    this.bytesOut += buf.length;
  };

  close = (): void => this.end("EDGE_ERR_KICKED");

  end(code: ErrorCode): void {
    if (this.res.destroyed) return;
    this.opts.metrics.connectionsClosed.inc({ protocol: "flv", reason: ERRORS[code].reason });
    this.opts.log.info("flv player closed", { session: this.id, code });
    this.res.destroy();
  }
}
