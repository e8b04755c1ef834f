// The fleet's ownership and registry on the control API (issue 12 §3, §4), served only with
// cluster.redisUrl: where a stream is live in the fleet (`GET /v1/locate`, the locator's own
// answer, from memory), and the drain flag of any edge (`PUT /v1/cluster/edges/:id/drain`), which
// every router of the fleet picks up with its next registry read.
import type { FastifyInstance } from "fastify";
import type { StreamLocation } from "../access/types.js";
import { EdgeError } from "../errors.js";
import { APP_NAME, STREAM_NAME } from "../primitives/stream-key.js";
import { requireRole, type AdminAuth } from "./admin-auth.js";
import { edgeError as send } from "./wire-codes.js";

export interface FleetApi {
  readonly edgeId: string;
  locate(app: string, name: string): StreamLocation;
  /** Throws EdgeError EDGE_ERR_CLUSTER_UNAVAILABLE while Redis is down. */
  setDrain(id: string, drain: boolean): Promise<void>;
}

const EDGE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** The locator's answer as the API shows it: "here" names this edge too, so it reads the same whichever edge gave it. */
export function locationJson(fleet: Pick<FleetApi, "edgeId" | "locate">, app: string, stream: string): Record<string, unknown> {
  const location = fleet.locate(app, stream);
  return location.at === "here" ? { at: "here", edge: fleet.edgeId } : { ...location };
}

/** Where a stream key is live in the fleet, in any of the ingest apps (the first app it is live in), else "nowhere". */
export function locateInApps(fleet: Pick<FleetApi, "edgeId" | "locate">, apps: readonly string[], stream: string): Record<string, unknown> {
  for (const app of apps) if (fleet.locate(app, stream).at !== "nowhere") return { app, ...locationJson(fleet, app, stream) };
  return { at: "nowhere" };
}

export function registerFleetRoutes(app: FastifyInstance, deps: { fleet: FleetApi; auth: AdminAuth; apps: readonly string[] }): void {
  const { fleet } = deps;

  app.get<{ Querystring: { stream?: unknown; app?: unknown } }>(
    "/v1/locate",
    { preHandler: requireRole(deps.auth, "nanoReadOnly", "edge") },
    async (req, reply) => {
      const { stream, app: application = "live" } = req.query;
      if (typeof stream !== "string" || !STREAM_NAME.test(stream)) return send(reply, "EDGE_ERR_BAD_NAME", "stream");
      if (typeof application !== "string" || !APP_NAME.test(application) || !deps.apps.includes(application)) return send(reply, "EDGE_ERR_BAD_APP");
      return { app: application, stream, ...locationJson(fleet, application, stream) };
    },
  );

  app.put<{ Params: { id: string }; Body: unknown }>(
    "/v1/cluster/edges/:id/drain",
    { preHandler: requireRole(deps.auth, "nanoAdmin", "edge") },
    async (req, reply) => {
      const { id } = req.params;
      if (!EDGE_ID.test(id)) return send(reply, "EDGE_ERR_BAD_REQUEST", "edge id");
      const body = req.body as { drain?: unknown } | undefined;
      if (typeof body !== "object" || body === null || typeof body.drain !== "boolean" || Object.keys(body).length !== 1) {
        return send(reply, "EDGE_ERR_BAD_REQUEST", 'body must be {"drain": true|false}');
      }
      try {
        await fleet.setDrain(id, body.drain);
      } catch (err) {
        if (err instanceof EdgeError) return send(reply, err.code);
        throw err;
      }
      return { edge: id, drain: body.drain };
    },
  );
}
