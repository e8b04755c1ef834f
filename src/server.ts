// Composition root (docs/architecture.md §1): builds one edge from a validated config.
// createEdge(config).start() resolves with the bound addresses; close() releases every socket,
// timer and file handle, so tests can start and stop edges again and again.
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { AccessControl } from "./access/access.js";
import { LiveSessionPolicy, revalidationResult } from "./access/live-session-policy.js";
import { systemClock } from "./access/ports.js";
import { SessionTable } from "./access/session-table.js";
import { trustedProxies } from "./primitives/client-ip.js";
import { StreamDirectory, type StreamSource } from "./bintu/directory.js";
import { loadOrCreateApiKey } from "./bintu/registry/api-key.js";
import { StreamRegistry } from "./bintu/registry/registry.js";
import { registrySource } from "./bintu/registry-source.js";
import { remoteSource } from "./bintu/remote-source.js";
import { timedSource } from "./bintu/timed-source.js";
import { issueEdgeCredential, verifyEdgeCredential } from "./auth/edge-credential.js";
import { JwksFollower } from "./auth/jwks-follower.js";
import { loadKeySet } from "./auth/keys.js";
import { PlaybackTokens } from "./auth/playback-tokens.js";
import { RevocationStore } from "./auth/revocations.js";
import { ERRORS } from "./errors.js";
import { composeFleet } from "./fleet.js";
import { GeoOverrideError, openGeo } from "./geo/geo.js";
import { Guardian } from "./guardian/guardian.js";
import { GuardianStore } from "./guardian/store.js";
import { OrgWebhook } from "./access/org-webhook.js";
import { PublishLimiter } from "./access/publish-limiter.js";
import type { Config } from "./config/schema.js";
import { createAdminAuth } from "./http/admin-auth.js";
import { PeopleKeys } from "./http/people-keys.js";
import { createApiServer, setApiSecureContext } from "./http/api-server.js";
import { ForeignSessions, nginxRtmpKick } from "./http/hook-sessions.js";
import { TokenHandles } from "./hooks/token-handles.js";
import { Ingest } from "./ingest/ingest.js";
import { nmsPatchProblem } from "./ingest/nms-patch.js";
import { createLogger, type Logger } from "./log.js";
import { LoadMeter } from "./metrics/load.js";
import { createMetrics, type Metrics } from "./metrics/metrics.js";
import { configuredEdges } from "./routing/edge-table.js";
import { Router } from "./routing/router.js";
import { TlsCertificates, TlsPairError, loadCaFile } from "./tls/certificates.js";
import { trustingFetch } from "./tls/outbound.js";

export interface EdgeAddresses {
  /** Where RTMP is served: plain RTMP, or RTMPS when rtmp.plain is false (then the same as `rtmps`). */
  rtmp: AddressInfo;
  /** RTMPS, when tls.certFile is set. */
  rtmps?: AddressInfo;
  playback: AddressInfo;
  api: AddressInfo;
}

export interface Edge {
  start(): Promise<EdgeAddresses>;
  close(): Promise<void>;
  /** The key the embedded registry accepts; `apiKeyCreated` is true when it was generated now. */
  readonly apiKey: string;
  readonly apiKeyCreated: boolean;
}

/** A start-up failure that names the config key at fault. */
export class EdgeStartError extends Error {
  override name = "EdgeStartError";
}

/**
 * Opens what a config names (geo databases, the routing table) and turns its failure into an
 * EdgeStartError naming the key; `undo` releases what was opened before.
 */
function openOrRefuse<T>(key: string, open: () => T, undo?: () => void): T {
  try {
    return open();
  } catch (err) {
    undo?.();
    if (err instanceof GeoOverrideError) throw new EdgeStartError(err.message);
    if (err instanceof TlsPairError) throw new EdgeStartError(`${err.key}: ${err.message}`);
    throw new EdgeStartError(`${key}: ${(err as Error).message}`);
  }
}

/**
 * The stream directory (docs/architecture.md §1): the embedded registry or a remote bintu, the
 * fleet's stream changes around it, its lookups timed, and the cache in front.
 */
function openDirectory(
  config: Config,
  registry: StreamRegistry | null,
  metrics: Metrics,
  fleet: { streams(source: StreamSource, embedded: boolean): StreamSource },
  fetchFn: typeof fetch | undefined,
): StreamDirectory {
  const remoteStreams = registry
    ? null
    : remoteSource({
        url: config.bintu.url,
        apiKey: config.bintu.apiKey,
        timeoutMs: config.bintu.requestTimeoutMs,
        maxResponseBytes: config.bintu.maxResponseBytes,
        syncIntervalMs: config.bintu.syncIntervalMs,
        ...(fetchFn ? { fetch: fetchFn } : {}),
        onRequest: (result, ms) => {
          metrics.bintuRequests.inc({ result });
          metrics.bintuRequestSeconds.observe(ms / 1000);
        },
      });
  // In a fleet the registry's edge posts lock / delete changes; a remote edge takes them (issue 12).
  const source = fleet.streams(registry ? registrySource(registry) : remoteStreams!, registry !== null);
  const remote = config.bintu.mode === "remote";
  const mode = remote ? "remote" : "embedded";
  const timed = timedSource(source, (result, seconds) => metrics.bintuLookupSeconds.observe({ mode, result }, seconds));
  return new StreamDirectory(timed, {
    ttlMs: config.bintu.cacheTtlMs,
    negativeTtlMs: config.bintu.negativeCacheTtlMs,
    maxEntries: config.bintu.maxCacheEntries,
    // The embedded registry is in-process: it cannot fail the way a network service does.
    ...(remote
      ? { staleIfErrorMs: config.bintu.staleIfErrorMs, breakerFailures: config.bintu.breakerFailures, breakerCooldownMs: config.bintu.breakerCooldownMs }
      : {}),
    events: {
      lookup: (s) => metrics.streamLookups.inc({ source: s }),
      breaker: (s) => metrics.breakerChanged(s),
    },
  });
}

// node-media-server keeps its streams in process-global maps: two edges in one process would
// share them. A second edge runs as a child process (see test/helpers/edge.ts).
let edgeInProcess = false;

export function createEdge(config: Config, deps: { log?: Logger } = {}): Edge {
  if (edgeInProcess) throw new EdgeStartError("another edge is running in this process; start this one in a child process");
  // Without the NMS patch the RTMP parser's limits are silently off: refuse before opening anything.
  const unpatched = nmsPatchProblem();
  if (unpatched) throw new EdgeStartError(unpatched);
  const log = deps.log ?? createLogger(config.logLevel);
  // Geo data and the routing table first: a bad file refuses start-up before anything is opened.
  let metrics: Metrics | undefined;
  const geo = openOrRefuse("geo.mmdbPath", () =>
    openGeo({
      mmdbPath: config.geo.mmdbPath,
      overrides: config.geo.overrides,
      log,
      onReload: (result) => metrics?.geoReloads.inc({ result }),
    }),
  );
  const edgeFeed = openOrRefuse(
    "routing.edgesFile",
    () => configuredEdges(config.routing, { log, onReload: (result) => metrics?.routingTableReloads.inc({ result }) }),
    () => geo.close(),
  );
  // The TLS pair (issue 15): the loader checked it already; a file changed since is refused here.
  const certificates =
    config.tls.certFile === ""
      ? null
      : openOrRefuse(
          "tls.certFile",
          () => new TlsCertificates(config.tls, { log, onReload: (result) => metrics?.tlsReloads.inc({ result }) }),
          () => {
            edgeFeed.close();
            geo.close();
          },
        );
  // Outbound TLS (other edges, bintu, the webhook) trusts tls.caFile besides the system store.
  const outbound =
    config.tls.caFile === ""
      ? null
      : trustingFetch(
          openOrRefuse(
            "tls.caFile",
            () => loadCaFile(config.tls.caFile),
            () => {
              certificates?.close();
              edgeFeed.close();
              geo.close();
            },
          ),
        );
  // The fleet (issue 12, src/fleet.ts): the Redis link, edge registry, replica and pruner now; the
  // stages below wire in what they need once it exists. No cluster.redisUrl: none of it.
  // metrics is assigned below, before the replica starts or ownership exists: the only readers.
  const fleet = composeFleet(config, { log, edgeFeed, addresses: () => addresses, load: () => load.report(), metrics: () => metrics! });
  const router = new Router(config.routing, geo, fleet.feed, log, outbound?.fetch);
  mkdirSync(config.dataDir, { recursive: true });
  // Remote mode: the stream manager is another bintu; the organisation key it takes is also the
  // key of this edge's admin API. Embedded mode: the registry and its key live in the data dir.
  const remote = config.bintu.mode === "remote";
  const registry = remote ? null : StreamRegistry.open(config.dataDir, { orgHash: config.bintu.orgHash });
  const { key: apiKey, created: apiKeyCreated } = remote
    ? { key: config.bintu.apiKey, created: false }
    : loadOrCreateApiKey(config.dataDir, config.bintu.apiKey);
  edgeInProcess = true;

  const { webhookUrl, webhookTimeoutMs, maxFailedPublishesPerMinute, failedPublishCooldownMs } = config.ingest;
  const limiter = new PublishLimiter({ maxPerMinute: maxFailedPublishesPerMinute, cooldownMs: failedPublishCooldownMs });
  const table = new SessionTable();
  metrics = createMetrics(table, limiter, {
    edges: () => router.edgeSnapshot(),
    geoBuiltAt: () => geo.builtAt,
    ...(certificates ? { tlsNotAfter: () => certificates.current.notAfter } : {}),
    ...(fleet.metrics && { cluster: fleet.metrics }),
  });
  const load = new LoadMeter(table);
  const directory = openDirectory(config, registry, metrics, fleet, outbound?.fetch);
  const webhook = webhookUrl
    ? new OrgWebhook(webhookUrl, webhookTimeoutMs, (call, outcome) => metrics.webhookCalls.inc({ call, outcome }), outbound?.fetch)
    : null;
  // Playback tokens: this edge's keys (generated on first start) plus those of followed edges.
  const revocations = RevocationStore.open(config.dataDir);
  const keys = new JwksFollower(loadKeySet(config.dataDir, config.auth.keys), config.auth.jwksUrls, config.auth.jwksRefreshMs, log, outbound?.fetch);
  const tokens = new PlaybackTokens({
    keys: keys.keys,
    revocations,
    auth: config.auth,
    onVerify: (code, cached) =>
      metrics.tokenVerifications.inc({ result: code ? "deny" : "allow", reason: code ? ERRORS[code].reason : "ok", cache: cached ? "hit" : "miss" }),
  });
  // Guardian: API rules in the data dir, an optional watched rules file, countries from the geo db.
  const guardianStore = GuardianStore.open(config.dataDir, { ipRuleTtlMs: config.guardian.ipRuleTtlMs });
  // The fleet's replica fills the stores before the Guardian reads them.
  const ruleStore = fleet.replicate({ guardianStore, revocations, keys, tokens });
  const guardian = new Guardian({
    apiRules: guardianStore,
    rulesFile: config.guardian.rulesFile,
    allowMissingReferer: config.guardian.allowMissingReferer,
    geo,
    log,
    counters: {
      decision: (action, result, kind) => metrics.guardianDecisions.inc({ action, result, kind }),
      wouldDeny: (action, kind) => metrics.guardianWouldDeny.inc({ action, kind }),
      reload: (source, result) => metrics.guardianReloads.inc({ source, result }),
      rules: (counts) => {
        for (const [kind, byMode] of Object.entries(counts)) {
          for (const [mode, n] of Object.entries(byMode)) metrics.guardianRules.set({ kind, mode }, n);
        }
      },
    },
  });
  // Ownership claims stream keys and locates streams; origin pull asks its edge first (issue 13).
  const { locator, claim, pulls, origins: pullOrigins } = fleet.claims(table);
  const org = registry?.orgHash ?? config.bintu.orgHash;
  const clock = systemClock;
  const nowSec = () => Math.floor(clock.now() / 1000);
  const access = new AccessControl({
    streams: directory,
    locator,
    claim,
    pulls,
    apps: config.ingest.apps,
    limiter,
    webhook,
    org,
    rules: guardian,
    tokens: config.auth.playback.required ? tokens : null,
    onDecided: (req, decision, ms) => {
      metrics.decisionSeconds.observe({ action: req.action, protocol: req.protocol, result: decision.allow ? "allow" : "deny" }, ms / 1000);
      // Busy though not live here: another edge of the fleet holds the key.
      if (claim && !decision.allow && decision.code === "EDGE_ERR_STREAM_BUSY" && table.locate(req.app, req.name).at === "nowhere") {
        metrics.ownershipRefusals.inc({ stage: "publish" });
      }
    },
  });
  const sessions = new LiveSessionPolicy({
    table,
    rules: guardian,
    enforceRulesOnActive: config.guardian.enforceOnActive,
    revocations: tokens,
    streams: directory,
    webhook,
    endGraceMs: config.playback.endGraceMs,
    revalidateIntervalMs: config.ingest.revalidateIntervalMs,
    clock,
    log,
    events: {
      revoked: () => metrics.tokenRevocations.inc(),
      revalidated: (result) => metrics.revalidations.inc({ result: revalidationResult(result) }),
      publishEnded: (s) => {
        if (!s.foreign) claim?.release(s.app, s.name, s.id); // a foreign server's publisher never claimed
      },
    },
  });
  const tlsServed = certificates ? { secureContext: () => certificates.current.context, options: () => certificates.current.options } : undefined;
  const ingest = new Ingest({
    config,
    access,
    sessions,
    metrics,
    log,
    now: () => clock.now(),
    tls: tlsServed,
    pull: {
      origins: pullOrigins,
      // Signed with this edge's key; the fleet announces it (fleetKeys), so the origin verifies it.
      credential: (path) => issueEdgeCredential(keys.keys.signing!, config.cluster.edgeId || config.publicHost, path, nowSec()),
      ...(outbound ? { ca: outbound.ca } : {}),
      relays: {
        verify: (token, path) => verifyEdgeCredential(token, keys.keys.verification, path, nowSec()),
        publisherOf: (app, name) => table.publisherOf(app, name),
      },
    },
  });
  // Encoders are handed RTMPS when it is served, even while plain RTMP stays on for old encoders.
  const rtmpUrl = () =>
    certificates
      ? `rtmps://${config.publicHost}:${addresses?.rtmps?.port ?? config.rtmp.tlsPort}/live`
      : `rtmp://${config.publicHost}:${addresses?.rtmp.port ?? config.rtmp.port}/live`;
  const httpScheme = certificates ? "https" : "http";
  let addresses: EdgeAddresses | null = null;
  const api = createApiServer({
    config,
    access,
    trustedProxies: trustedProxies(config.api.trustProxy),
    // People's keys (issue 16 §8) sit next to the organisation key in the data dir.
    ...((people) => ({ people, auth: createAdminAuth({ apiKey, people }) }))(PeopleKeys.open(config.dataDir)),
    metrics,
    registry,
    tokens,
    org,
    guardian,
    guardianStore: ruleStore,
    ...fleet.api(),
    bintuUrls: {
      get rtmpIngest() {
        return rtmpUrl();
      },
      get rtmpPlay() {
        return rtmpUrl();
      },
      get flvPlayBase() {
        return `${httpScheme}://${config.publicHost}:${addresses?.playback.port ?? config.playback.port}/live`;
      },
    },
    route: { router, directory, load: () => load.report() },
    sessions: () => table.all(),
    hooks: {
      sessions: new ForeignSessions(sessions, nginxRtmpKick(config.hooks.nginxRtmpControlUrl, log)),
      handles: new TokenHandles(tokens),
    },
    kick: (id) => sessions.end(id),
    ready: () => addresses !== null,
    ...(certificates ? { tls: { options: certificates.current.options, handshakeTimeoutMs: config.rtmp.limits.handshakeTimeoutMs } } : {}),
    log,
  });
  // A renewed certificate reaches every TLS listener's new connections; running ones keep theirs.
  certificates?.onChange((pair) => {
    ingest.certificateChanged();
    setApiSecureContext(api, pair.options);
  });

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    addresses = null;
    // Media first: the sessions it ends still get their publish-end side effects, then the policy stops.
    await Promise.all([ingest.close(), api.close(), router.close()]);
    await outbound?.close();
    // The fleet after media: ended publishers give their keys back, then this edge leaves the registry.
    await fleet.close();
    sessions.close();
    edgeFeed.close();
    certificates?.close();
    load.close();
    keys.close();
    guardian.close();
    guardianStore.close();
    geo.close();
    tokens.close();
    revocations.close();
    registry?.close();
    edgeInProcess = false;
  };

  const listening = async <T>(key: string, port: number, host: string, listen: () => Promise<T>): Promise<T> => {
    try {
      return await listen();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === "EADDRINUSE" ? "address already in use" : code === "EACCES" ? "permission denied" : (err as Error).message;
      throw new EdgeStartError(`${key}: cannot listen on ${host}:${port}: ${why}`);
    }
  };

  return {
    apiKey,
    apiKeyCreated,
    close,
    async start() {
      try {
        await keys.start();
        const plain = config.rtmp.plain ? await listening("rtmp.port", config.rtmp.port, config.rtmp.host, () => ingest.listenRtmp()) : undefined;
        const rtmps = certificates ? await listening("rtmp.tlsPort", config.rtmp.tlsPort, config.rtmp.host, () => ingest.listenRtmps()) : undefined;
        // The loader refuses rtmp.plain false without TLS, so one of the two listens.
        const rtmp = (plain ?? rtmps)!;
        const playback = await listening("playback.port", config.playback.port, config.playback.host, () => ingest.listenPlayback());
        await listening("api.port", config.api.port, config.api.host, () => api.listen({ port: config.api.port, host: config.api.host }));
        addresses = { rtmp, ...(rtmps ? { rtmps } : {}), playback, api: api.server.address() as AddressInfo };
        fleet.start();
        // After the API listens: this edge may be in its own routing table and probe itself.
        await router.start();
        const at = (a: AddressInfo | undefined) => (a ? `${a.address}:${a.port}` : "off");
        log.info("edge listening", {
          rtmp: at(plain),
          ...(rtmps ? { rtmps: at(rtmps), tls: certificates?.current.serial } : {}),
          playback: `${certificates ? "https" : "http"} ${at(playback)}`,
          api: `${certificates ? "https" : "http"} ${at(addresses.api)}`,
        });
        return addresses;
      } catch (err) {
        await close();
        throw err;
      }
    },
  };
}
