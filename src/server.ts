// Composition root (DESIGN.md §1): builds one edge from a validated config.
// createEdge(config).start() resolves with the bound addresses; close() releases every socket,
// timer and file handle, so tests can start and stop edges again and again.
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { AccessControl } from "./access/access.js";
import { trustedProxies } from "./access/client-ip.js";
import { StreamDirectory } from "./bintu/directory.js";
import { loadOrCreateApiKey } from "./bintu/registry/api-key.js";
import { StreamRegistry } from "./bintu/registry/registry.js";
import { registrySource } from "./bintu/registry-source.js";
import type { Config } from "./config/schema.js";
import { createAdminAuth } from "./http/admin-auth.js";
import { createApiServer } from "./http/api-server.js";
import { Ingest } from "./ingest/ingest.js";
import { SessionTable } from "./ingest/session-table.js";
import { createLogger, type Logger } from "./log.js";
import { createMetrics } from "./metrics/metrics.js";

export interface EdgeAddresses {
  rtmp: AddressInfo;
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

// node-media-server keeps its streams in process-global maps: two edges in one process would
// share them. A second edge runs as a child process (see test/helpers/edge.ts).
let edgeInProcess = false;

export function createEdge(config: Config, deps: { log?: Logger } = {}): Edge {
  if (config.bintu.mode !== "embedded") {
    throw new EdgeStartError("bintu.mode: only 'embedded' is available in this version");
  }
  if (edgeInProcess) throw new EdgeStartError("another edge is running in this process; start this one in a child process");
  const log = deps.log ?? createLogger(config.logLevel);
  mkdirSync(config.dataDir, { recursive: true });
  const registry = StreamRegistry.open(config.dataDir, { orgHash: config.bintu.orgHash });
  const { key: apiKey, created: apiKeyCreated } = loadOrCreateApiKey(config.dataDir, config.bintu.apiKey);
  edgeInProcess = true;

  const directory = new StreamDirectory(registrySource(registry), {
    ttlMs: config.bintu.cacheTtlMs,
    negativeTtlMs: config.bintu.negativeCacheTtlMs,
    maxEntries: config.bintu.maxCacheEntries,
  });
  const access = new AccessControl(directory, config.ingest.apps);
  const table = new SessionTable();
  const metrics = createMetrics(table);
  const ingest = new Ingest({ config, access, directory, table, metrics, log });
  let addresses: EdgeAddresses | null = null;
  const api = createApiServer({
    config,
    access,
    trustedProxies: trustedProxies(config.api.trustProxy),
    auth: createAdminAuth({ apiKey }),
    metrics,
    registry,
    bintuUrls: {
      get rtmpIngest() {
        return `rtmp://${config.publicHost}:${addresses?.rtmp.port ?? config.rtmp.port}/live`;
      },
      get rtmpPlay() {
        return `rtmp://${config.publicHost}:${addresses?.rtmp.port ?? config.rtmp.port}/live`;
      },
      get flvPlayBase() {
        return `http://${config.publicHost}:${addresses?.playback.port ?? config.playback.port}/live`;
      },
    },
    sessions: () => table.all(),
    kick: (id) => ingest.kick(id),
    ready: () => addresses !== null,
  });

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    addresses = null;
    await Promise.all([ingest.close(), api.close()]);
    registry.close();
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
        const rtmp = await listening("rtmp.port", config.rtmp.port, config.rtmp.host, () => ingest.listenRtmp());
        const playback = await listening("playback.port", config.playback.port, config.playback.host, () => ingest.listenPlayback());
        await listening("api.port", config.api.port, config.api.host, () => api.listen({ port: config.api.port, host: config.api.host }));
        addresses = { rtmp, playback, api: api.server.address() as AddressInfo };
        log.info("edge listening", {
          rtmp: `${rtmp.address}:${rtmp.port}`,
          playback: `${playback.address}:${playback.port}`,
          api: `${addresses.api.address}:${addresses.api.port}`,
        });
        return addresses;
      } catch (err) {
        await close();
        throw err;
      }
    },
  };
}
