// The dashboard's live updates (issue 16 §9): `GET /v1/events`, server-sent events carrying one
// snapshot of the sessions (and, in embedded mode, the streams' states) per interval.
// - Authenticated like every admin route, by the X-BINTU-APIKEY header: the page reads the stream
//   with fetch() rather than EventSource, which cannot send a header (and a key in the URL would
//   end up in logs).
// - Bounded: a few streams per key and a cap for the edge (429 past them), and a client that does
//   not read is skipped rather than buffered for — at most one snapshot waits in its socket.
// - Closed when the key is revoked (at once, through PeopleKeys.onRevoke) and, for any key that no
//   longer authenticates, at the next tick.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { IdentifyingAuth } from "./admin-auth.js";
import type { PeopleKeys } from "./people-keys.js";
import { sendAdminRefusal, edgeError as send } from "./wire-codes.js";

export interface LiveEventsDeps {
  auth: IdentifyingAuth;
  people: Pick<PeopleKeys, "onRevoke">;
  /** One snapshot, JSON-serialisable. */
  snapshot: () => unknown;
  intervalMs?: number;
  maxPerKey?: number;
  maxTotal?: number;
}

interface Client {
  keyId: string;
  close(reason: string): void;
}

/** A page or two per person; more from one key is a leak or a loop. */
const MAX_PER_KEY = 4;
const MAX_TOTAL = 64;

export interface LiveEvents {
  /** Open streams (tests, and close on shutdown). */
  readonly open: number;
  closeAll(): void;
}

export function registerLiveEvents(app: FastifyInstance, deps: LiveEventsDeps): LiveEvents {
  const { auth, snapshot, intervalMs = 1000, maxPerKey = MAX_PER_KEY, maxTotal = MAX_TOTAL } = deps;
  const clients = new Set<Client>();

  deps.people.onRevoke((id) => {
    for (const c of clients) if (c.keyId === id) c.close("revoked");
  });

  app.get("/v1/events", async (req: FastifyRequest, reply: FastifyReply) => {
    const who = auth.identify(req.headers);
    if (!who) return sendAdminRefusal(reply, "edge", "unauthenticated");
    const mine = [...clients].filter((c) => c.keyId === who.keyId).length;
    if (mine >= maxPerKey || clients.size >= maxTotal) return send(reply, "EDGE_ERR_TOO_MANY_EVENT_STREAMS");

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
    });

    let timer: NodeJS.Timeout | undefined;
    const client: Client = {
      keyId: who.keyId,
      close(reason) {
        if (!clients.delete(client)) return;
        clearInterval(timer);
        if (!res.writableEnded && !res.destroyed) res.end(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
      },
    };
    clients.add(client);
    res.once("close", () => client.close("gone"));

    const tick = () => {
      // The same check as a request's: a revoked or changed org key ends the stream here too.
      const now = auth.identify(req.headers);
      if (!now || now.keyId !== who.keyId) return client.close("revoked");
      // A reader that has not taken the last snapshot is skipped: the next one replaces it anyway.
      if (res.writableLength > 0) return;
      res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`);
    };
    tick();
    timer = setInterval(tick, intervalMs);
  });

  return {
    get open() {
      return clients.size;
    },
    closeAll() {
      for (const c of clients) c.close("shutdown");
    },
  };
}
