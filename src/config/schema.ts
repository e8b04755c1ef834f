// The one configuration schema (docs/architecture.md §1 src/config): defaults → YAML file → env (EDGE_…).
// Every key has a default, so `npm start` with no file runs a working edge.
import { Type, type Static } from "@sinclair/typebox";

const Port = (def: number) => Type.Integer({ minimum: 0, maximum: 65535, default: def, description: "0 = pick a free port" });
const Host = Type.String({ minLength: 1, default: "0.0.0.0" });
const Millis = (def: number, min = 1) => Type.Integer({ minimum: min, maximum: 86_400_000, default: def });
const Bytes = (def: number, min: number, max: number) => Type.Integer({ minimum: min, maximum: max, default: def });
const Cidr = Type.String({ minLength: 1, maxLength: 49, description: "address or CIDR, v4 or v6" });

const MiB = 1024 * 1024;

const Latitude = Type.Number({ minimum: -90, maximum: 90 });
const Longitude = Type.Number({ minimum: -180, maximum: 180 });
/** Edge ids and regions become metric labels: a short, closed, configured set. */
const Label = Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" });

/** One entry of the geo load-balancing table (issue 7 §2): a network placed by hand, ahead of the MMDB. */
export const GeoOverrideSchema = Type.Object(
  {
    cidr: Cidr,
    /** Clients here are routed from this region's centre unless lat/lon are given. */
    region: Type.Optional(Label),
    lat: Type.Optional(Latitude),
    lon: Type.Optional(Longitude),
    /** ISO 3166-1 alpha-2, for the Guardian's country rules. */
    country: Type.Optional(Type.String({ pattern: "^[A-Za-z]{2}$" })),
  },
  { additionalProperties: false },
);

/** Base URLs of an edge, one per way in (issue 7 §1); the route appends `/APP/NAME`. */
const EdgeUrlsSchema = Type.Object(
  {
    ingest: Type.Optional(Type.String({ pattern: "^rtmps?://" })),
    rtmp: Type.Optional(Type.String({ pattern: "^rtmps?://" })),
    flv: Type.Optional(Type.String({ pattern: "^https?://" })),
  },
  { additionalProperties: false },
);

/** One row of the routing table (issue 7 §1). */
export const EdgeEntrySchema = Type.Object(
  {
    id: Label,
    region: Label,
    lat: Latitude,
    lon: Longitude,
    /** Control API base probed for `/readyz` and `/v1/load`; empty = not probed, always counted healthy with no load. */
    api: Type.String({ default: "", pattern: "^(https?://.+)?$" }),
    urls: EdgeUrlsSchema,
    /** New clients go elsewhere once the edge reaches routing.spillAt of either bound; absent = unbounded. */
    capacity: Type.Object(
      {
        sessions: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000 })),
        egressMbps: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10_000_000 })),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Share among edges at the same distance (weighted rendezvous hashing). */
    weight: Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000, default: 1 }),
    /** Takes no new clients; clients already on it are moved on their next route request. */
    drain: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

export const EdgeTableSchema = Type.Array(EdgeEntrySchema, { maxItems: 10_000 });

/** Per-connection and total RTMP resource bounds (issue 3). Defaults sit near nginx-rtmp's. */
export const RtmpLimitsSchema = Type.Object(
  {
    // nginx-rtmp defaults to 1 MiB; IDR frames of 1080p60 / 4K streams at 12-40 Mbit/s reach 1.5-3 MiB,
    // so 4 MiB keeps real encoders working while a header can no longer reserve 16 MiB.
    maxMessageSize: Bytes(4 * MiB, 1024, 16 * MiB - 1),
    // Bytes a connection may hold in partly received messages, across all chunk streams.
    maxBufferedBytes: Bytes(8 * MiB, 64 * 1024, 256 * MiB),
    maxChunkStreams: Type.Integer({ minimum: 4, maximum: 65599, default: 32 }),
    maxChunkSize: Bytes(64 * 1024, 128, 0x7fffffff),
    handshakeTimeoutMs: Millis(5_000),
    idleTimeoutMs: Millis(30_000),
    /** Time a publisher or player may take from TCP accept to its publish/play command. */
    commandTimeoutMs: Millis(10_000),
    maxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 2_000 }),
    maxConnectionsPerIp: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 50 }),
  },
  { additionalProperties: false, default: {} },
);

/**
 * Bounds of one HTTP port (issue 18), applied by src/http/http-server.ts: caps counted at TCP accept
 * (before TLS and before any request byte is parsed), and deadlines on the request line and headers,
 * on the whole request (a body trickled one byte at a time is cut), and on a connection with no bytes.
 */
const httpLimits = (maxConnections: number, maxConnectionsPerIp: number) => ({
  maxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000, default: maxConnections }),
  maxConnectionsPerIp: Type.Integer({ minimum: 1, maximum: 1_000_000, default: maxConnectionsPerIp }),
  headersTimeoutMs: Millis(10_000, 100),
  requestTimeoutMs: Millis(10_000, 100),
  idleTimeoutMs: Millis(30_000, 100),
});

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1, default: "./data" }),
    logLevel: Type.Union([Type.Literal("debug"), Type.Literal("info"), Type.Literal("warn"), Type.Literal("error"), Type.Literal("silent")], {
      default: "info",
    }),
    /** Public hostname put into ingest/playout URLs of the registry's stream JSON. */
    publicHost: Type.String({ minLength: 1, default: "localhost" }),
    rtmp: Type.Object(
      {
        port: Port(1935),
        host: Host,
        /** RTMPS port, served when tls.certFile is set (issue 15). */
        tlsPort: Port(1936),
        /** Plain RTMP on rtmp.port; false with TLS on = RTMPS only (encoders without TLS exist, so on by default). */
        plain: Type.Boolean({ default: true }),
        limits: RtmpLimitsSchema,
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * Transport security (issue 15): with certFile and keyFile set, RTMPS on rtmp.tlsPort and HTTPS on
     * the playback and API ports. Both files are watched and reloaded; empty = plain text, as before.
     */
    tls: Type.Object(
      {
        /** PEM certificate, optionally followed by its chain (certbot's fullchain.pem). */
        certFile: Type.String({ default: "" }),
        /** PEM private key of the certificate, unencrypted (certbot's privkey.pem). */
        keyFile: Type.String({ default: "" }),
        /** PEM CA certificates trusted, besides the system store, when this edge calls other edges and bintu. */
        caFile: Type.String({ default: "" }),
      },
      { additionalProperties: false, default: {} },
    ),
    playback: Type.Object(
      {
        port: Port(8000),
        host: Host,
        /** A player whose unsent bytes pass this bound is dropped (slow consumer, issue 3). */
        maxPendingBytes: Bytes(4 * MiB, 64 * 1024, 1024 * MiB),
        /** Players of a stream whose publisher left are closed after this grace (issue 2). */
        endGraceMs: Millis(2_000, 0),
        /**
         * Bytes of the last GOP kept per stream so a new player starts at once; past it the cache
         * stays empty until the next keyframe (players then join there). 0 = no cache.
         */
        maxGopCacheBytes: Bytes(64 * MiB, 0, 1024 * MiB),
        // RTMP's per-address default: one address holds at most 50 players' descriptors and send backlogs.
        ...httpLimits(2_000, 50),
      },
      { additionalProperties: false, default: {} },
    ),
    api: Type.Object(
      {
        port: Port(8080),
        host: Host,
        /** Proxies whose X-Forwarded-For is believed. Empty = trust no forwarding header. */
        trustProxy: Type.Array(Cidr, { default: [], maxItems: 1024 }),
        bodyLimit: Bytes(64 * 1024, 1024, 16 * MiB),
        // An operator's tools and a few edges' route probes, not an audience: a small share per address.
        ...httpLimits(512, 32),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Foreign media servers' auth hooks, /v1/hooks/* (issue 14, docs/hooks.md). */
    hooks: Type.Object(
      {
        /** Callers answered at all; anyone else gets 403 and nothing is decided. Default: loopback only. */
        allowFrom: Type.Array(Cidr, { default: ["127.0.0.0/8", "::1/128"], maxItems: 1024 }),
        /** Set = every hook call must carry it (`?secret=` or `Authorization: Bearer`); OvenMediaEngine's signature key. */
        secret: Type.String({ default: "" }),
        /** nginx-rtmp's `rtmp_control` base URL (`http://host:port/control`); set = revoked sessions are dropped there. */
        nginxRtmpControlUrl: Type.String({ default: "", pattern: "^(http://.+)?$" }),
      },
      { additionalProperties: false, default: {} },
    ),
    bintu: Type.Object(
      {
        mode: Type.Union([Type.Literal("embedded"), Type.Literal("remote")], { default: "embedded" }),
        url: Type.String({ default: "", description: "remote bintu base URL" }),
        /** Embedded: the key the registry accepts (generated into dataDir when empty). Remote: the org key sent. */
        apiKey: Type.String({ default: "", env: "EDGE_BINTU_APIKEY" }),
        /** Embedded: organisation hash, the `XXXXX` in `XXXXX-YYYYY` stream names; generated when empty. */
        orgHash: Type.String({ default: "", pattern: "^([A-Za-z0-9]{5})?$" }),
        /** Stream-state cache in front of the registry: positive and negative entry lifetimes. */
        cacheTtlMs: Millis(5_000),
        negativeCacheTtlMs: Millis(1_000),
        maxCacheEntries: Type.Integer({ minimum: 100, maximum: 10_000_000, default: 100_000 }),
        /** Remote: every request's deadline — never Node's 300 s default. */
        requestTimeoutMs: Millis(2_000),
        /** Remote: a key validated before stays valid this long while bintu fails (stale-if-error). */
        staleIfErrorMs: Millis(600_000, 0),
        /** Remote: larger response bodies are an error, never parsed. */
        maxResponseBytes: Bytes(1 * MiB, 1024, 64 * MiB),
        /** Remote: consecutive failures that open the circuit breaker, and how long it stays open before a probe. */
        breakerFailures: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
        breakerCooldownMs: Millis(5_000),
        /** Remote, for servers without the `streamname` filter: how often the stream list is re-read. */
        syncIntervalMs: Millis(30_000),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        playback: Type.Object(
          {
            /** Every play needs a valid `jwtoken` (nanoStream's secure-playback package). Off by default. */
            required: Type.Boolean({ default: false }),
          },
          { additionalProperties: false, default: {} },
        ),
        /** `iss` of tokens this edge signs, and the issuers it accepts. */
        issuer: Type.String({ minLength: 1, default: "bintu-edge" }),
        acceptIssuers: Type.Array(Type.String({ minLength: 1 }), { default: [], description: "besides `issuer`" }),
        leewaySeconds: Type.Integer({ minimum: 0, maximum: 300, default: 30 }),
        /** Other edges' `/.well-known/jwks.json`: their tokens verify here too (a fleet verifies offline). */
        jwksUrls: Type.Array(Type.String({ pattern: "^https?://" }), { default: [], maxItems: 64 }),
        jwksRefreshMs: Millis(300_000, 1_000),
        maxTokenLength: Type.Integer({ minimum: 256, maximum: 65536, default: 4096 }),
        /** Extra keys (rotation, fleets): verification keys, and optionally the one to sign with. */
        keys: Type.Array(
          Type.Object(
            {
              kid: Type.String({ minLength: 1, maxLength: 128 }),
              alg: Type.Union([Type.Literal("EdDSA"), Type.Literal("ES256"), Type.Literal("RS256"), Type.Literal("HS256")]),
              /** PEM public key (EdDSA / ES256 / RS256). */
              publicKey: Type.Optional(Type.String({ minLength: 1 })),
              /** PEM private key: this key signs new tokens (the newest configured signing key wins). */
              privateKey: Type.Optional(Type.String({ minLength: 1 })),
              /** HS256 shared secret (at least 32 bytes). */
              secret: Type.Optional(Type.String({ minLength: 32 })),
            },
            { additionalProperties: false },
          ),
          { default: [], maxItems: 64 },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    guardian: Type.Object(
      {
        /** YAML rules file watched for changes (GitOps); empty = rules only through the API. */
        rulesFile: Type.String({ default: "" }),
        /** IP rules without an explicit expiry end after this (nanoStream: 24 h). 0 = never. */
        ipRuleTtlMs: Type.Integer({ minimum: 0, maximum: 365 * 86_400_000, default: 86_400_000 }),
        /** Players without Referer or Origin (ffmpeg, VLC, apps) pass referrer rules. */
        allowMissingReferer: Type.Boolean({ default: true }),
        /** A new deny rule also ends running sessions it matches (nanoStream never does). */
        enforceOnActive: Type.Boolean({ default: false }),
        /** API rules in force at most (issue 18 §6): past it an add is refused with a 409. */
        maxRules: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    geo: Type.Object(
      {
        /** MaxMind-format city or country database; empty = no country information. */
        mmdbPath: Type.String({ default: "" }),
        /** CIDR → region/location/country, checked before the database (private ranges, known networks). */
        overrides: Type.Array(GeoOverrideSchema, { default: [], maxItems: 100_000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    routing: Type.Object(
      {
        /** The edges clients are sent to (see README "Routing"). */
        edges: Type.Array(EdgeEntrySchema, { default: [], maxItems: 10_000 }),
        /** YAML file with an `edges:` list, watched and reloaded; a bad version keeps the table in force. */
        edgesFile: Type.String({ default: "" }),
        /** Clients the geo lookup cannot place are routed from the centre of this region's edges. */
        defaultRegion: Type.String({ default: "", pattern: "^([A-Za-z0-9_.-]{1,64})?$" }),
        /** Fraction of capacity at which an edge stops taking new clients; the rest is headroom for its sticky ones. */
        spillAt: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.8 }),
        /** Edges this close to each other count as equally near: weights and the stream's hash choose among them. */
        sameDistanceKm: Type.Number({ minimum: 0, maximum: 20_000, default: 100 }),
        /** How long after its last request a client keeps its edge for a stream (while that edge stays eligible); 0 = off. */
        stickyTtlMs: Millis(600_000, 0),
        maxStickyEntries: Type.Integer({ minimum: 100, maximum: 10_000_000, default: 100_000 }),
        /** Last resort when no edge is eligible; no URLs = answer 503. */
        fallback: Type.Object(
          { id: Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$", default: "fallback" }), region: Type.String({ default: "" }), urls: EdgeUrlsSchema },
          { additionalProperties: false, default: { urls: {} } },
        ),
        health: Type.Object(
          {
            intervalMs: Millis(2_000, 100),
            timeoutMs: Millis(1_000, 10),
            /** Consecutive passes that bring a down edge back, and failures that take an up edge out. */
            rise: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
            fall: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    cluster: Type.Object(
      {
        /** The fleet's Redis (`redis://` or `rediss://`, password in the URL or in passwordFile); empty = a single edge, nothing shared. */
        redisUrl: Type.String({ default: "", pattern: "^(rediss?://.+)?$" }),
        /** A file holding the Redis password (read at start; its last newline dropped), instead of one in the URL. */
        passwordFile: Type.String({ default: "" }),
        /** This edge's id in the fleet: unique, and a metric label. Required with redisUrl. */
        edgeId: Type.String({ default: "", pattern: "^([A-Za-z0-9_.-]{1,64})?$" }),
        /** Put in front of every key, so that several fleets can share one Redis. */
        keyPrefix: Type.String({ default: "bintu-edge:", pattern: "^[A-Za-z0-9_.:{}-]{0,64}$" }),
        /** Deadline of every Redis command a request waits on; past it the request is answered without Redis. */
        commandTimeoutMs: Millis(150, 10),
        /**
         * Origin pull (issue 13): playback base URLs (`http(s)://host:port`) of origin edges asked in order
         * for a stream not live here — for two tiers without Redis; with Redis the fleet's locator names the origin first.
         */
        origins: Type.Array(Type.String({ pattern: "^https?://[^/?#]+$" }), { default: [], maxItems: 32 }),
        /** A pull stays this long after its last viewer left; a returning viewer keeps it. */
        pullLingerMs: Millis(10_000, 0),
        /** No keyframe from the origin within this → the waiting viewers are refused as "not live". */
        pullStartTimeoutMs: Millis(5_000, 100),
        /** An origin silent this long is dropped and the stream looked for again. */
        pullStallMs: Millis(3_000, 100),
        /** Viewers of a pull with no media this long (no origin found) are ended; never sooner than playback.endGraceMs. */
        pullGiveUpMs: Millis(5_000, 100),
        /** How other edges and routers reach this edge: a routing table entry (id = edgeId); empty URLs come from publicHost and the bound ports. */
        announce: Type.Object(
          {
            region: Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$", default: "default" }),
            lat: Type.Number({ minimum: -90, maximum: 90, default: 0 }),
            lon: Type.Number({ minimum: -180, maximum: 180, default: 0 }),
            api: Type.String({ default: "", pattern: "^(https?://.+)?$" }),
            urls: Type.Object(
              {
                ingest: Type.Optional(Type.String({ pattern: "^rtmps?://" })),
                rtmp: Type.Optional(Type.String({ pattern: "^rtmps?://" })),
                flv: Type.Optional(Type.String({ pattern: "^https?://" })),
              },
              { additionalProperties: false, default: {} },
            ),
            capacity: Type.Object(
              {
                sessions: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000 })),
                egressMbps: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10_000_000 })),
              },
              { additionalProperties: false, default: {} },
            ),
            weight: Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000, default: 1 }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    ingest: Type.Object(
      {
        /** RTMP apps accepted for publish and play; `rec` is nanoStream's recording app. */
        apps: Type.Array(Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" }), { default: ["live", "rec"], minItems: 1 }),
        /** Live publishers are re-validated this often (jittered); a locked or deleted key is kicked. */
        revalidateIntervalMs: Millis(10_000, 100),
        /** Organisation webhook (nanoStream / nginx-rtmp on_publish semantics); empty = none. */
        webhookUrl: Type.String({ default: "" }),
        webhookTimeoutMs: Millis(2_000),
        /** Failed publishes allowed per client IP per minute before refusals skip the lookup. */
        maxFailedPublishesPerMinute: Type.Integer({ minimum: 1, maximum: 100_000, default: 10 }),
        failedPublishCooldownMs: Millis(60_000),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type RtmpLimits = Static<typeof RtmpLimitsSchema>;
export type GeoOverride = Static<typeof GeoOverrideSchema>;
export type EdgeEntry = Static<typeof EdgeEntrySchema>;
