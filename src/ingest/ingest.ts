// The ingest side of an edge: RTMP (publish + play) and HTTP-FLV (play) over one session table,
// and what happens around a publish — bintu state live/ended, players closed after the publisher
// leaves, sessions kicked when their stream is locked or deleted.
import type { AddressInfo } from "node:net";
import { guardianRequest, type AccessControl } from "../access/access.js";
import { GUARDIAN_ERRORS, type Guardian } from "../guardian/guardian.js";
import { trustedProxies } from "../primitives/client-ip.js";
import type { StreamDirectory, StreamInfo } from "../bintu/directory.js";
import type { Config } from "../config/schema.js";
import { ERRORS, type ErrorCode } from "../errors.js";
import type { OrgWebhook } from "../access/org-webhook.js";
import type { PlaybackTokens } from "../auth/playback-tokens.js";
import { Revalidator, verdict } from "../bintu/revalidator.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/metrics.js";
import { FlvPlayback } from "./flv-playback.js";
import { RtmpIngest } from "./rtmp-ingest.js";
import type { EdgeSession, SessionTable } from "./session-table.js";

export interface IngestOptions {
  config: Config;
  webhook: OrgWebhook | null;
  tokens: PlaybackTokens;
  guardian: Guardian;
  access: AccessControl;
  directory: StreamDirectory;
  table: SessionTable;
  metrics: Metrics;
  log: Logger;
}

export class Ingest {
  private readonly rtmp: RtmpIngest;
  private readonly flv: FlvPlayback;
  private readonly endTimers = new Set<NodeJS.Timeout>();
  private readonly unsubscribe: () => void;
  private readonly revalidator: Revalidator<EdgeSession>;
  private readonly unsubscribeRevocations: () => void;
  private readonly unsubscribeRules: () => void;
  private readonly tokenExpiry: NodeJS.Timeout;

  constructor(private readonly opts: IngestOptions) {
    const { config, access, table, metrics, log } = opts;
    this.rtmp = new RtmpIngest({
      limits: config.rtmp.limits,
      maxPendingBytes: config.playback.maxPendingBytes,
      maxGopCacheBytes: config.playback.maxGopCacheBytes,
      access, table, metrics, log,
      hooks: {
        publishStarted: (s) => {
          this.report("live", s);
          this.revalidator.add(s);
        },
        publishEnded: (s) => this.onPublishEnded(s),
      },
    });
    this.flv = new FlvPlayback({
      maxPendingBytes: config.playback.maxPendingBytes,
      trustedProxies: trustedProxies(config.api.trustProxy),
      access, table, metrics, log,
    });
    this.unsubscribe = opts.directory.onChange((stream) => this.onStreamChanged(stream));
    // A revoked token ends every session that was allowed with it (issue 6 §5).
    this.unsubscribeRevocations = opts.tokens.onRevoke((jti) => {
      metrics.tokenRevocations.inc();
      for (const s of table.all()) if (s.decision.token?.jti === jti) s.end("EDGE_ERR_TOKEN_REVOKED");
    });
    // guardian.enforceOnActive: a rule change also ends running sessions the new rules refuse
    // (nanoStream only ever refuses new connections, which stays the default).
    this.unsubscribeRules = opts.guardian.onRulesChanged((current) => {
      if (!config.guardian.enforceOnActive) return;
      for (const s of table.all()) {
        const verdict = opts.guardian.check(guardianRequest(s.request, s.decision), current);
        if (!verdict.allow) s.end(GUARDIAN_ERRORS[verdict.kind]);
      }
    });
    // forceDisconnect tokens end their sessions at `exp` (nanoStream's semantics; without it an
    // expired token only blocks new plays). Checked four times a second: within 1 s of exp.
    this.tokenExpiry = setInterval(() => {
      const nowSec = Date.now() / 1000;
      for (const s of table.all()) {
        const token = s.decision.token;
        if (token?.forceDisconnect && nowSec >= token.exp) s.end("EDGE_ERR_TOKEN_EXPIRED");
      }
    }, 250);
    // Every live publisher is re-checked against bintu (remote mode has no push), and the
    // webhook gets its update_publish there.
    const { webhook } = opts;
    this.revalidator = new Revalidator<EdgeSession>({
      directory: opts.directory,
      intervalMs: config.ingest.revalidateIntervalMs,
      kick: (s, code) => s.end(code),
      afterValid: webhook ? async (s) => ((await webhook.update(s)) === "allow" ? null : "EDGE_ERR_WEBHOOK_DENIED") : undefined,
      onChecked: (_s, r) => metrics.revalidations.inc({ result: r.keep ? r.source : ERRORS[r.code].reason }),
    });
  }

  listenRtmp(): Promise<AddressInfo> {
    return this.rtmp.listen(this.opts.config.rtmp.port, this.opts.config.rtmp.host);
  }

  listenPlayback(): Promise<AddressInfo> {
    return this.flv.listen(this.opts.config.playback.port, this.opts.config.playback.host);
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.unsubscribeRevocations();
    this.unsubscribeRules();
    clearInterval(this.tokenExpiry);
    this.revalidator.close();
    for (const timer of this.endTimers) clearTimeout(timer);
    this.endTimers.clear();
    await Promise.all([this.rtmp.close(), this.flv.close()]);
  }

  /** Ends one session (DELETE /v1/sessions/:id). */
  kick(id: string, code: ErrorCode = "EDGE_ERR_KICKED"): boolean {
    const session = this.opts.table.get(id);
    session?.end(code);
    return session !== undefined;
  }

  get rtmpConnections(): number {
    return this.rtmp.connectionCount;
  }

  /** A locked or deleted stream loses its publisher at once; its players follow after the grace. */
  private onStreamChanged(stream: StreamInfo): void {
    const code = verdict(stream);
    if (!code) return;
    for (const s of this.opts.table.ofStream(stream.name)) if (s.role === "publisher") s.end(code);
  }

  private onPublishEnded(publisher: EdgeSession): void {
    this.revalidator.remove(publisher.id);
    this.opts.webhook?.done(publisher);
    this.report("ended", publisher);
    // Players wait playback.endGraceMs for the encoder to come back (reconnects are common), then
    // are closed instead of hanging on a stream nobody feeds.
    const timer = setTimeout(() => {
      this.endTimers.delete(timer);
      if (this.opts.table.publisherOf(publisher.app, publisher.name)) return;
      for (const s of this.opts.table.ofStream(publisher.name)) {
        if (s.role === "player" && s.app === publisher.app) s.end("EDGE_ERR_PUBLISHER_GONE");
      }
    }, this.opts.config.playback.endGraceMs);
    this.endTimers.add(timer);
  }

  private report(state: "live" | "ended", s: EdgeSession): void {
    const { directory, log } = this.opts;
    const done = state === "live" ? directory.reportLive(s.name) : directory.reportEnded(s.name);
    done.catch((err: Error) => log.warn("stream state not reported", { stream: s.name, state, detail: err.message }));
  }
}
