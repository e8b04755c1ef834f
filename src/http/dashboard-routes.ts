// The web dashboard (issue 16): its static files under /dashboard/, and the few API routes only it
// needs — who the key is, people's keys (§8), the edge table (§7: in a fleet, the router's table
// already merges the edges announced in the registry, src/routing/edge-table.ts MergedEdgeFeed). Everything else the dashboard
// does goes through the public API (bintu /stream, /guardian, /api/v1/splay, /v1/sessions), so a
// role refused there is refused here too. The files are built by `npm run build` into
// dist/dashboard/ (scripts/build-dashboard.mjs) and read once at start: nothing is fetched from
// another host, and a request never reaches the file system.
import { readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { Config, EdgeEntry } from "../config/schema.js";
import type { EdgeSnapshot } from "../routing/router.js";
import { requireRole, type IdentifyingAuth } from "./admin-auth.js";
import { PERSON_ROLES, type PeopleKeys, type PersonRole } from "./people-keys.js";
import type { StreamSamples } from "./stream-samples.js";
import { edgeError as send } from "./wire-codes.js";

export interface DashboardRoutesDeps {
  auth: IdentifyingAuth;
  people: PeopleKeys;
  config: Config;
  /** False in remote mode: streams live in the remote bintu, not behind this edge's /stream. */
  embedded: boolean;
  edges: () => { table: readonly EdgeEntry[]; health: readonly EdgeSnapshot[] };
  /** This edge's id in a fleet (issue 12, cluster.redisUrl); null on a single edge. */
  fleetEdgeId: string | null;
  /** Report-mode Guardian rules' would-deny counts, by action and kind (issue 16 §5). */
  wouldDeny: () => Promise<{ action: string; kind: string; count: number }[]>;
  /** Each live stream's recent ingest bitrate and viewers, for the stream page's chart. */
  samples: Pick<StreamSamples, "of" | "intervalMs">;
  /** The HTTP-FLV base players are given (`http://publicHost:port/live`): the preview fetches from it. */
  flvPlayBase: () => string;
  /** Where the built files are; default dist/dashboard/ of this package. */
  dir?: string;
}

// src/http/ and dist/http/ are both two levels below the package root.
const BUILT = fileURLToPath(new URL("../../dist/dashboard/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".txt": "text/plain; charset=utf-8", // the player library's licence
};

/**
 * Scripts and styles only from this origin; the preview's media from the playback port (another
 * origin: same host, other port) through fetch and blob: URLs (mpegts.js feeds the video element
 * through MediaSource). No frames, no inline script.
 */
function contentSecurityPolicy(playbackOrigin: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self' blob:",
    `connect-src 'self' ${playbackOrigin}`,
    "worker-src 'self' blob:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

/** The built files by name, read once; empty when the dashboard was not built. */
function loadFiles(dir: string): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (type) files.set(name, { body: readFileSync(join(dir, name)), type });
  }
  return files;
}

export function registerDashboardRoutes(app: FastifyInstance, deps: DashboardRoutesDeps): void {
  const files = loadFiles(deps.dir ?? BUILT);
  const readOnly = { preHandler: requireRole(deps.auth, "nanoReadOnly", "edge") };
  const admin = { preHandler: requireRole(deps.auth, "nanoAdmin", "edge") };

  function serve(reply: FastifyReply, name: string) {
    const file = files.get(name);
    if (!file) return send(reply, "EDGE_ERR_NOT_FOUND", files.size === 0 ? "dashboard not built: run npm run build" : undefined);
    return (
      reply
        .header("Content-Type", file.type)
        .header("Content-Security-Policy", contentSecurityPolicy(new URL(deps.flvPlayBase()).origin))
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
        // Scripts have content-hashed names; the page itself must be asked for again after an upgrade.
        .header("Cache-Control", name === "index.html" ? "no-cache" : "public, max-age=31536000, immutable")
        .send(file.body)
    );
  }

  app.get("/dashboard", async (_req, reply) => reply.redirect("/dashboard/"));
  app.get("/dashboard/", async (_req, reply) => serve(reply, "index.html"));
  app.get<{ Params: { file: string } }>("/dashboard/:file", async (req, reply) => serve(reply, req.params.file));

  // Who this key is and what the page needs to know about the edge to draw itself.
  app.get("/v1/dashboard/info", readOnly, async (req) => {
    const who = deps.auth.identify(req.headers);
    const { config } = deps;
    return {
      role: who?.role,
      keyId: who?.keyId,
      embedded: deps.embedded,
      playback: { tokenRequired: config.auth.playback.required },
      // The Edges page shows the fleet's registry, and drain buttons, only in a fleet.
      fleet: deps.fleetEdgeId === null ? null : { edgeId: deps.fleetEdgeId },
      guardian: { enforceOnActive: config.guardian.enforceOnActive, wouldDeny: await deps.wouldDeny() },
    };
  });

  app.get("/v1/edges", readOnly, async () => {
    const { table, health } = deps.edges();
    const byId = new Map(health.map((h) => [h.id, h]));
    return table.map((e) => {
      const h = byId.get(e.id);
      return {
        id: e.id,
        region: e.region,
        api: e.api,
        urls: e.urls,
        drain: e.drain,
        up: h?.up ?? null,
        load: h?.load ?? null,
        loadRatio: h?.loadRatio ?? null,
        announced: h?.announced ?? false,
      };
    });
  });

  app.get<{ Querystring: { stream?: unknown } }>("/v1/samples", readOnly, async (req, reply) => {
    const { stream } = req.query;
    if (typeof stream !== "string" || stream === "") return send(reply, "EDGE_ERR_BAD_REQUEST", "stream: one stream name");
    return { intervalMs: deps.samples.intervalMs, samples: deps.samples.of(stream) };
  });

  app.get("/v1/keys", admin, async () => deps.people.list());
  app.post<{ Body: unknown }>("/v1/keys", admin, async (req, reply) => {
    const body = (req.body ?? {}) as { role?: unknown; label?: unknown };
    if (!PERSON_ROLES.includes(body.role as PersonRole)) return send(reply, "EDGE_ERR_BAD_REQUEST", `role: one of ${PERSON_ROLES.join(", ")}`);
    if (typeof body.label !== "string" || body.label.trim() === "" || body.label.length > 128) {
      return send(reply, "EDGE_ERR_BAD_REQUEST", "label: a string of 1-128 characters");
    }
    const created = deps.people.create(body.role as PersonRole, body.label.trim());
    if (!created) return send(reply, "EDGE_ERR_BAD_REQUEST", "too many keys: revoke some first");
    // Shown once: no cache may keep it (as RFC 6749 §5.1 asks of token responses).
    return reply.code(201).header("Cache-Control", "no-store").send(created);
  });
  app.delete<{ Params: { id: string } }>("/v1/keys/:id", admin, async (req, reply) =>
    deps.people.revoke(req.params.id) ? reply.code(204).send() : send(reply, "EDGE_ERR_NOT_FOUND", "no such key"),
  );
}
