// RTMP ingest and play on node-media-server's protocol engine, with the edge in charge of every
// decision (docs/decisions.md §2). The adapter owns the TCP server and each connection's life:
// - NMS's command handlers for connect / publish / play are replaced per connection, so a
//   publish is decided (asynchronously) *before* `NetStream.Publish.Start`, and a refusal sends
//   `Publish.BadName` / `Publish.Unauthorized` instead;
// - media from a session reaches the broadcast only once it is an accepted publisher (players,
//   undecided, refused and duplicate publishers are muted — NMS broadcast from any session);
// - every exception raised while parsing one connection's bytes closes that connection only;
// - limits, timeouts and connection caps are enforced here and in the parser patch (patches/);
// - RTMPS (issue 15) is the same protocol on a TLS socket: the raw TCP connection is counted
//   against the caps *before* its TLS handshake, and the handshake deadline covers TLS, RTMP
//   handshake and `connect` together, so a TLS handshake flood is bounded like a TCP one.
import net, { type AddressInfo } from "node:net";
import tls from "node:tls";
import type { AccessControl, AccessRequest, Allowed, EdgeSession } from "../access/access.js";
import type { LiveSessionPolicy } from "../access/live-session-policy.js";
import { normalizeIp } from "../primitives/client-ip.js";
import { APP_NAME, parseStreamKey } from "../primitives/stream-key.js";
import type { RtmpLimits } from "../config/schema.js";
import { ERRORS, type ErrorCode } from "../errors.js";
import { streamRef, type Logger } from "../log.js";
import type { Metrics } from "../metrics/metrics.js";
import { listen } from "./listen.js";
import { nms, type NmsCommand, type NmsRtmpSession } from "./nms.js";
import type { OriginPulls, PullLease } from "./origin-pull.js";

/** A refused client gets this long to read its status before the socket is destroyed. */
const REFUSAL_LINGER_MS = 1_000;
const MUTED = (): void => {};

type ConnectionState = "handshake" | "connected" | "deciding" | "publishing" | "playing" | "closing";

interface Connection {
  readonly socket: net.Socket;
  readonly session: NmsRtmpSession;
  readonly ip: string;
  state: ConnectionState;
  app: string;
  tcUrl: string;
  deadline?: NodeJS.Timeout;
  edgeSession?: EdgeSession;
  /** A play of a stream pulled from another edge (issue 13): released when the connection closes. */
  lease?: PullLease;
}

export interface RtmpIngestOptions {
  limits: RtmpLimits;
  maxPendingBytes: number;
  maxGopCacheBytes: number;
  access: AccessControl;
  /** Told when a session starts and ends; it decides when running sessions end. */
  sessions: Pick<LiveSessionPolicy, "started" | "ended">;
  metrics: Metrics;
  log: Logger;
  /** Wall-clock ms for session start times (the policy's clock). */
  now: () => number;
  /** The certificate in force for new RTMPS connections; absent = no RTMPS. */
  secureContext?: () => tls.SecureContext;
  /** Pulls of streams live on another edge (issue 13); absent = none. */
  pulls?: OriginPulls | null;
}

const NMS_ERROR_CODES: Record<string, ErrorCode> = {
  RTMP_MESSAGE_TOO_LARGE: "EDGE_ERR_MESSAGE_TOO_LARGE",
  RTMP_BUFFER_LIMIT: "EDGE_ERR_BUFFER_LIMIT",
  RTMP_TOO_MANY_CHUNK_STREAMS: "EDGE_ERR_TOO_MANY_CHUNK_STREAMS",
  RTMP_BAD_CHUNK_SIZE: "EDGE_ERR_BAD_CHUNK_SIZE",
};

export class RtmpIngest {
  private readonly server: net.Server;
  /** RTMPS: a plain TCP server too, so the caps apply before any TLS work (see accept). */
  private readonly tlsServer: net.Server | null;
  private readonly connections = new Set<Connection>();
  private readonly connectionsPerIp = new Map<string, number>();
  /** Stream paths with a publish being decided: a second publisher waits for no one, it is refused. */
  private readonly pendingPublishes = new Set<string>();

  constructor(private readonly opts: RtmpIngestOptions) {
    this.server = net.createServer((socket) => this.accept(socket, false));
    this.tlsServer = opts.secureContext ? net.createServer((socket) => this.accept(socket, true)) : null;
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return listen(this.server, port, host);
  }

  listenTls(port: number, host: string): Promise<AddressInfo> {
    if (!this.tlsServer) throw new Error("RTMPS needs a certificate");
    return listen(this.tlsServer, port, host);
  }

  async close(): Promise<void> {
    const stop = (server: net.Server | null) => new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
    const closed = Promise.all([stop(this.server), stop(this.tlsServer)]);
    for (const conn of this.connections) {
      this.closeConnection(conn, "EDGE_ERR_SHUTDOWN");
      conn.socket.destroy(); // also ends refused clients still in their linger
    }
    await closed;
  }

  private accept(raw: net.Socket, secure: boolean): void {
    const { limits, log } = this.opts;
    const ip = normalizeIp(raw.remoteAddress);
    const perIp = this.connectionsPerIp.get(ip) ?? 0;
    const capped: ErrorCode | null =
      this.connections.size >= limits.maxConnections
        ? "EDGE_ERR_TOO_MANY_CONNECTIONS"
        : perIp >= limits.maxConnectionsPerIp
          ? "EDGE_ERR_TOO_MANY_CONNECTIONS_IP"
          : null;
    if (capped) {
      this.countClose(capped);
      log.warn("rtmp connection refused", { code: capped });
      raw.on("error", MUTED);
      raw.destroy();
      return;
    }
    this.connectionsPerIp.set(ip, perIp + 1);

    // Nagle on the server adds ~44 ms to every connect (measured, docs/node-media-server.md §8a).
    raw.setNoDelay(true);
    const socket = secure ? this.wrapTls(raw) : raw;
    socket.setTimeout(limits.idleTimeoutMs);
    const session = nms.createRtmpSession(socket);
    const conn: Connection = { socket, session, ip, state: "handshake", app: "", tcUrl: "" };
    this.connections.add(conn);
    this.wire(conn);
    if (secure) {
      // A failed TLS handshake (old protocol version, garbage) ends in "close" like any reset;
      // it is counted here, with the reason TLS gave.
      const tlsSocket = socket as tls.TLSSocket;
      const failed = (err: Error) => this.closeConnection(conn, "EDGE_ERR_PROTOCOL", `tls: ${err.message}`);
      tlsSocket.once("error", failed);
      tlsSocket.once("secure", () => tlsSocket.off("error", failed));
    }
    this.setDeadline(conn, limits.handshakeTimeoutMs, "EDGE_ERR_HANDSHAKE_TIMEOUT");
  }

  /** The server side of TLS on an accepted socket, with the certificate in force now. */
  private wrapTls(raw: net.Socket): tls.TLSSocket {
    raw.on("error", MUTED); // the TLS socket reports the connection's fate; "close" follows
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext: this.opts.secureContext!() });
    // TLS 1.2 renegotiation is a CPU lever for the client and serves no RTMP purpose (issue 15 §3):
    // the context's SSL_OP_NO_RENEGOTIATION refuses it (src/tls/certificates.ts). disableRenegotiation()
    // would not: on a TLSSocket no tls.Server owns, it reports the attempt on no public event.
    return socket;
  }

  /** What NMS's RtmpSession.run() does, except that media starts muted and commands come to us. */
  private wire(conn: Connection): void {
    const { session, socket } = conn;
    const rtmp = session.rtmp;
    const { maxMessageSize, maxBufferedBytes, maxChunkStreams, maxChunkSize } = this.opts.limits;
    rtmp.limits = { maxMessageSize, maxBufferedBytes, maxChunkStreams, maxChunkSize };
    rtmp.onConnectCallback = session.onConnect;
    rtmp.onPlayCallback = session.onPlay;
    rtmp.onPushCallback = session.onPush;
    rtmp.onOutputCallback = session.onOutput;
    rtmp.onPacketCallback = MUTED;
    const nmsOnConnect = rtmp.onConnect.bind(rtmp);
    rtmp.onConnect = (msg) => this.onConnectCommand(conn, msg, nmsOnConnect);
    // NMS echoes the transaction id in its _result through an AMF encoder that is quadratic in
    // the size of an array: a 150 KB strict array held the event loop for seconds
    // (test/ingest/regressions/amf0-echo-*). A transaction id is a number (RTMP spec 7.2.1).
    const nmsOnCreateStream = rtmp.onCreateStream.bind(rtmp);
    rtmp.onCreateStream = (msg) => {
      if (typeof msg.transId !== "number") return this.closeConnection(conn, "EDGE_ERR_PROTOCOL", "transaction id is not a number");
      nmsOnCreateStream(msg);
    };
    // The handlers are async: a failure must close this connection, never become an unhandled
    // rejection (which ends a Node 20 process).
    const failed = (err: Error) => this.closeConnection(conn, "EDGE_ERR_INTERNAL", err.message);
    rtmp.onPublish = (msg) => void this.onPublishCommand(conn, msg).catch(failed);
    rtmp.onPlay = (msg) => void this.onPlayCommand(conn, msg).catch(failed);

    socket.on("data", (data: Buffer) => this.onData(conn, data));
    socket.on("timeout", () => this.closeConnection(conn, "EDGE_ERR_IDLE_TIMEOUT"));
    // Socket errors (resets, writes after close) end in "close", handled there.
    socket.on("error", MUTED);
    socket.on("close", () => this.onSocketClose(conn));
  }

  private onData(conn: Connection, data: Buffer): void {
    // A closing connection is drained, not parsed: nothing it sends is accepted.
    if (conn.state === "closing") return;
    try {
      conn.session.onData(data);
    } catch (err) {
      const code = NMS_ERROR_CODES[(err as { code?: string }).code ?? ""] ?? "EDGE_ERR_PROTOCOL";
      this.closeConnection(conn, code, (err as Error).message);
    }
  }

  private onConnectCommand(conn: Connection, msg: NmsCommand, nmsOnConnect: (msg: NmsCommand) => void): void {
    const cmdObj = msg.cmdObj as Record<string, unknown> | null | undefined;
    // NMS 4.4.3 exits on `new URL(undefined)` when tcUrl is missing: check every field's type first.
    if (conn.state !== "handshake" || typeof cmdObj !== "object" || cmdObj === null) {
      return this.closeConnection(conn, "EDGE_ERR_PROTOCOL");
    }
    const { app, tcUrl, objectEncoding } = cmdObj;
    if (typeof app !== "string" || typeof tcUrl !== "string" || !URL.canParse(tcUrl) || typeof msg.transId !== "number") {
      return this.closeConnection(conn, "EDGE_ERR_PROTOCOL");
    }
    if (!APP_NAME.test(app)) return this.closeConnection(conn, "EDGE_ERR_BAD_APP");
    conn.app = app;
    conn.tcUrl = tcUrl;
    // NMS echoes objectEncoding in its _result: only AMF0 (0) or AMF3 (3) is passed on, never a
    // client-built value (see onCreateStream above).
    nmsOnConnect({ ...msg, cmdObj: { ...cmdObj, objectEncoding: objectEncoding === 3 ? 3 : 0 } });
    conn.state = "connected";
    this.setDeadline(conn, this.opts.limits.commandTimeoutMs, "EDGE_ERR_COMMAND_TIMEOUT");
  }

  private async onPublishCommand(conn: Connection, msg: NmsCommand): Promise<void> {
    const { session } = conn;
    if (conn.state !== "connected") return this.closeConnection(conn, "EDGE_ERR_PROTOCOL");
    session.rtmp.streamId = session.rtmp.parserPacket.header.stream_id;
    const key = parseStreamKey(msg.streamName);
    if (!key.ok) return this.refuse(conn, "publish", key.error);
    const { name, query } = key.value;
    const path = `/${conn.app}/${name}`;
    if (this.pendingPublishes.has(path)) return this.refuse(conn, "publish", "EDGE_ERR_STREAM_BUSY");

    conn.state = "deciding";
    this.pendingPublishes.add(path);
    const request: AccessRequest = {
      action: "publish",
      protocol: "rtmp",
      media: "here",
      app: conn.app,
      name,
      query,
      ip: conn.ip,
      clientId: session.id,
      tcUrl: conn.tcUrl,
    };
    const decision = await this.opts.access.check(request).finally(() => this.pendingPublishes.delete(path));
    if (conn.state !== "deciding") return; // the client left while we were deciding
    this.countDecision("publish", decision.allow ? null : decision.code);
    if (!decision.allow) return this.refuse(conn, "publish", decision.code);

    const rtmp = session.rtmp;
    rtmp.streamName = name;
    rtmp.streamQuery = { ...query };
    rtmp.respondPublish();
    // This edge may be pulling the stream (its publisher moved here): the encoder takes the path.
    this.opts.pulls?.yieldTo(conn.app, name);
    session.onConnect({ app: conn.app, name, host: "", query: rtmp.streamQuery });
    session.onPush();
    if (!session.isPublisher) return this.closeConnection(conn, "EDGE_ERR_INTERNAL");
    // The edge closes players itself after playback.endGraceMs; NMS's 30 s "resume by the same IP"
    // must never let a reconnect skip this decision.
    session.broadcast.publishGraceMs = 0;
    session.broadcast.maxGopCacheBytes = this.opts.maxGopCacheBytes;
    rtmp.onPacketCallback = session.onPacket;
    this.enterSession(conn, "publisher", request, decision);
  }

  private async onPlayCommand(conn: Connection, msg: NmsCommand): Promise<void> {
    const { session, socket } = conn;
    if (conn.state !== "connected") return this.closeConnection(conn, "EDGE_ERR_PROTOCOL");
    session.rtmp.streamId = session.rtmp.parserPacket.header.stream_id;
    const key = parseStreamKey(msg.streamName);
    if (!key.ok) return this.refuse(conn, "play", key.error);
    const { name, query } = key.value;

    conn.state = "deciding";
    const request: AccessRequest = { action: "play", protocol: "rtmp", media: "here", app: conn.app, name, query, ip: conn.ip };
    const decision = await this.opts.access.check(request);
    if (conn.state !== "deciding") return;
    this.countDecision("play", decision.allow ? null : decision.code);
    if (!decision.allow) return this.refuse(conn, "play", decision.code);
    // Live on another edge: join (or start) this edge's pull and wait for its first keyframe.
    if (decision.pull && this.opts.pulls) {
      conn.lease = this.opts.pulls.acquire(conn.app, name);
      const ready = await conn.lease.ready;
      if (conn.state !== "deciding") return; // left while waiting: the close released the lease
      if (!ready) return this.refuse(conn, "play", "EDGE_ERR_STREAM_NOT_LIVE");
    }

    session.rtmp.streamName = name;
    session.rtmp.streamQuery = { ...query };
    session.rtmp.respondPlay();
    session.onConnect({ app: conn.app, name, host: "", query: session.rtmp.streamQuery });
    // A player that stops reading is dropped once its unsent bytes pass the bound (no back-pressure
    // in NMS). Messages of one event-loop turn leave in one writev, not one syscall each.
    const nmsSend = session.sendBuffer;
    let corked = false;
    session.sendBuffer = (buf) => {
      if (socket.writableLength > this.opts.maxPendingBytes) return this.closeConnection(conn, "EDGE_ERR_SLOW_CONSUMER");
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(() => {
          corked = false;
          socket.uncork();
        });
      }
      nmsSend(buf);
    };
    session.onPlay();
    this.enterSession(conn, "player", request, decision);
    if (conn.edgeSession) conn.lease?.adopt(conn.edgeSession);
  }

  private enterSession(conn: Connection, role: "publisher" | "player", request: AccessRequest, decision: Allowed): void {
    const name = request.name;
    conn.state = role === "publisher" ? "publishing" : "playing";
    this.clearDeadline(conn);
    const { session } = conn;
    conn.edgeSession = {
      id: session.id,
      role,
      protocol: "rtmp",
      app: conn.app,
      name,
      ip: conn.ip,
      startedAt: this.opts.now(),
      bytesIn: () => session.inBytes,
      bytesOut: () => session.outBytes,
      end: (code) => this.closeConnection(conn, code),
      request,
      decision,
    };
    this.opts.sessions.started(conn.edgeSession);
    this.opts.log.info(`rtmp ${role} started`, { session: session.id, app: conn.app, stream: streamRef(name) });
    this.opts.log.debug(`rtmp ${role} key`, { session: session.id, stream: name });
  }

  /** Refusal with a status the client can show, then the socket is destroyed (docs/architecture.md §2). */
  private refuse(conn: Connection, action: "publish" | "play", code: ErrorCode): void {
    const spec = ERRORS[code];
    const status = action === "publish" ? spec.rtmpPublish : spec.rtmpPlay;
    this.enterClosing(conn, code);
    this.opts.log.info(`rtmp ${action} refused`, { session: conn.session.id, code });
    if (status) conn.session.rtmp.sendStatusMessage(conn.session.rtmp.streamId, "error", status, spec.message);
    conn.socket.end();
    conn.deadline = setTimeout(() => conn.socket.destroy(), REFUSAL_LINGER_MS);
  }

  /** Kick, limit or protocol error: the socket is destroyed now; nothing more is read. */
  private closeConnection(conn: Connection, code: ErrorCode, detail?: string): void {
    if (conn.state === "closing") return;
    this.enterClosing(conn, code);
    this.opts.log.info("rtmp connection closed", { session: conn.session.id, code, detail });
    conn.socket.destroy();
  }

  private enterClosing(conn: Connection, code: ErrorCode): void {
    conn.state = "closing";
    conn.session.rtmp.onPacketCallback = MUTED;
    this.clearDeadline(conn);
    this.countClose(code);
  }

  private onSocketClose(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    this.clearDeadline(conn);
    const left = (this.connectionsPerIp.get(conn.ip) ?? 1) - 1;
    if (left > 0) this.connectionsPerIp.set(conn.ip, left);
    else this.connectionsPerIp.delete(conn.ip);
    conn.session.onClose();
    conn.lease?.release();
    const edgeSession = conn.edgeSession;
    if (!edgeSession) return;
    this.opts.log.info(`rtmp ${edgeSession.role} ended`, { session: edgeSession.id, stream: streamRef(edgeSession.name) });
    this.opts.sessions.ended(edgeSession);
  }

  private setDeadline(conn: Connection, ms: number, code: ErrorCode): void {
    this.clearDeadline(conn);
    conn.deadline = setTimeout(() => this.closeConnection(conn, code), ms);
  }

  private clearDeadline(conn: Connection): void {
    if (conn.deadline) clearTimeout(conn.deadline);
    conn.deadline = undefined;
  }

  private countDecision(action: "publish" | "play", code: ErrorCode | null): void {
    this.opts.metrics.decisions.inc({
      action,
      protocol: "rtmp",
      result: code ? "deny" : "allow",
      reason: code ? ERRORS[code].reason : "ok",
    });
  }

  private countClose(code: ErrorCode): void {
    this.opts.metrics.connectionsClosed.inc({ protocol: "rtmp", reason: ERRORS[code].reason });
  }
}
