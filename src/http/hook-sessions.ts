// Sessions that run on foreign media servers (issue 14 §6): kept in the edge's session table through
// the live-session policy like our own, so GET /v1/sessions lists them with their server, and lock,
// delete, revocation and DELETE /v1/sessions/:id end them. Ending one means asking its server to
// drop it (nginx-rtmp's control module, docs/hooks.md §1.6) and remembering why, so the server's
// next re-check (on_update) is refused with that code.
import type { Allowed, AccessRequest, EdgeSession } from "../access/access.js";
import type { LiveSessionPolicy } from "../access/live-session-policy.js";
import type { ErrorCode } from "../errors.js";
import type { HookServer, HookSession } from "../hooks/types.js";
import type { Logger } from "../log.js";

/** Asks the foreign server to drop a session; resolves when it answered (or failed: logged). */
export type Kick = (server: HookServer, session: HookSession, req: AccessRequest) => Promise<void>;

/** Codes of sessions ended here, kept this many at most for the servers' re-checks. */
const MAX_ENDED = 10_000;

export class ForeignSessions {
  private readonly running = new Map<string, EdgeSession>();
  private readonly endedCodes = new Map<string, ErrorCode>();

  constructor(
    private readonly policy: Pick<LiveSessionPolicy, "started" | "ended">,
    private readonly kick: Kick,
    private readonly now: () => number = Date.now,
  ) {}

  start(server: HookServer, hs: HookSession, request: AccessRequest, decision: Allowed): void {
    const previous = this.running.get(hs.id);
    if (previous) this.finish(previous);
    this.endedCodes.delete(hs.id);
    const session: EdgeSession = {
      id: hs.id,
      role: hs.role,
      protocol: "rtmp",
      foreign: { server, protocol: hs.protocol },
      app: request.app,
      name: request.name,
      ip: request.ip,
      startedAt: this.now(),
      // The foreign server carries the media: this edge counts none of its bytes.
      bytesIn: () => 0,
      bytesOut: () => 0,
      end: (code) => {
        if (this.running.get(hs.id) !== session) return;
        this.remember(hs.id, code);
        this.finish(session);
        void this.kick(server, hs, request);
      },
      request,
      decision,
    };
    this.running.set(hs.id, session);
    this.policy.started(session);
  }

  /** The foreign server says these ended (a done call). */
  done(ids: readonly string[]): void {
    for (const id of ids) {
      const session = this.running.get(id);
      if (session) this.finish(session);
      this.endedCodes.delete(id);
    }
  }

  get(id: string): EdgeSession | undefined {
    return this.running.get(id);
  }

  /** Why the edge ended this session, if it did (the server's re-check is then refused with it). */
  endedWith(id: string): ErrorCode | undefined {
    return this.endedCodes.get(id);
  }

  private finish(session: EdgeSession): void {
    this.running.delete(session.id);
    this.policy.ended(session);
  }

  private remember(id: string, code: ErrorCode): void {
    if (this.endedCodes.size >= MAX_ENDED) this.endedCodes.delete(this.endedCodes.keys().next().value as string);
    this.endedCodes.set(id, code);
  }
}

/**
 * nginx-rtmp's `rtmp_control` drop (`/drop/publisher|subscriber?app=&name=&clientid=`); the other
 * servers' kick calls are documented in docs/hooks.md §1.6, not made: their sessions end at their
 * next hook or, for OvenMediaEngine, at the `lifetime` it was given.
 */
export function nginxRtmpKick(controlUrl: string, log?: Logger): Kick {
  return async (server, hs, req) => {
    if (server !== "nginx-rtmp" || controlUrl === "") return;
    const what = hs.role === "publisher" ? "publisher" : "subscriber";
    const url = `${controlUrl.replace(/\/+$/, "")}/drop/${what}?${new URLSearchParams({ app: req.app, name: req.name, clientid: hs.clientId })}`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (!res.ok) log?.warn("nginx-rtmp control drop refused", { status: res.status, session: hs.id });
    } catch (err) {
      log?.warn("nginx-rtmp control drop failed", { session: hs.id, detail: (err as Error).message });
    }
  };
}
