// The media side of an edge: RTMP (publish + play) and HTTP-FLV (play). Both adapters decide new
// sessions through AccessControl and hand running ones to the live-session policy, which alone
// decides when they end (src/access/live-session-policy.ts).
import type { AddressInfo } from "node:net";
import type tls from "node:tls";
import type { AccessControl } from "../access/access.js";
import type { LiveSessionPolicy } from "../access/live-session-policy.js";
import { trustedProxies } from "../primitives/client-ip.js";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/metrics.js";
import { FlvPlayback, type RelayGate } from "./flv-playback.js";
import { OriginPulls, type OriginPullOptions } from "./origin-pull.js";
import { RtmpIngest } from "./rtmp-ingest.js";

export interface IngestOptions {
  config: Config;
  access: AccessControl;
  sessions: Pick<LiveSessionPolicy, "started" | "ended">;
  metrics: Metrics;
  log: Logger;
  /** Wall-clock ms (the policy's clock). */
  now: () => number;
  /** The certificate in force (issue 15): RTMPS and HTTPS playback; absent = plain text only. */
  tls?: { secureContext: () => tls.SecureContext; options: () => tls.SecureContextOptions };
  /** Origin pull (issue 13): how this edge pulls streams live elsewhere, and serves other edges' pulls. */
  pull?: { origins: OriginPullOptions["origins"]; credential: OriginPullOptions["credential"]; ca?: OriginPullOptions["ca"]; relays: RelayGate } | null;
}

export class Ingest {
  private readonly rtmp: RtmpIngest;
  private readonly flv: FlvPlayback;
  private readonly pulls: OriginPulls | null;

  constructor(private readonly opts: IngestOptions) {
    const { config, access, sessions, metrics, log, now, tls, pull } = opts;
    const { pullLingerMs, pullStartTimeoutMs, pullStallMs, pullGiveUpMs } = config.cluster;
    this.pulls = pull
      ? new OriginPulls({
          origins: pull.origins,
          credential: pull.credential,
          ...(pull.ca ? { ca: pull.ca } : {}),
          lingerMs: pullLingerMs,
          startTimeoutMs: pullStartTimeoutMs,
          stallMs: pullStallMs,
          // Viewers of a pulled stream never end sooner than local ones after their publisher left.
          giveUpMs: Math.max(pullGiveUpMs, config.playback.endGraceMs),
          maxGopCacheBytes: config.playback.maxGopCacheBytes,
          log,
          events: { connected: () => metrics.originPullConnects.inc(), failed: (_origin, result) => metrics.originPullFailures.inc({ result }) },
        })
      : null;
    this.rtmp = new RtmpIngest({
      limits: config.rtmp.limits,
      maxPendingBytes: config.playback.maxPendingBytes,
      maxGopCacheBytes: config.playback.maxGopCacheBytes,
      access,
      sessions,
      metrics,
      log,
      now,
      ...(tls ? { secureContext: tls.secureContext } : {}),
      pulls: this.pulls,
    });
    this.flv = new FlvPlayback({
      maxPendingBytes: config.playback.maxPendingBytes,
      limits: config.playback,
      trustedProxies: trustedProxies(config.api.trustProxy),
      access,
      sessions,
      metrics,
      log,
      now,
      ...(tls ? { tls: { options: tls.options(), handshakeTimeoutMs: config.rtmp.limits.handshakeTimeoutMs } } : {}),
      pulls: this.pulls,
      relays: pull?.relays ?? null,
    });
  }

  listenRtmp(): Promise<AddressInfo> {
    return this.rtmp.listen(this.opts.config.rtmp.port, this.opts.config.rtmp.host);
  }

  listenRtmps(): Promise<AddressInfo> {
    return this.rtmp.listenTls(this.opts.config.rtmp.tlsPort, this.opts.config.rtmp.host);
  }

  /** A reloaded certificate: RTMPS reads it per connection, HTTPS playback is told. */
  certificateChanged(): void {
    if (this.opts.tls) this.flv.setSecureContext(this.opts.tls.options());
  }

  listenPlayback(): Promise<AddressInfo> {
    return this.flv.listen(this.opts.config.playback.port, this.opts.config.playback.host);
  }

  async close(): Promise<void> {
    this.pulls?.close();
    await Promise.all([this.rtmp.close(), this.flv.close()]);
  }
}
