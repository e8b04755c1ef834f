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
import { FlvPlayback } from "./flv-playback.js";
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
}

export class Ingest {
  private readonly rtmp: RtmpIngest;
  private readonly flv: FlvPlayback;

  constructor(private readonly opts: IngestOptions) {
    const { config, access, sessions, metrics, log, now, tls } = opts;
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
    await Promise.all([this.rtmp.close(), this.flv.close()]);
  }
}
