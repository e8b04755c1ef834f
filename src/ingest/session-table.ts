// The edge's own session table (DESIGN.md §1 src/ingest): who is live and who watches come from
// here, never from node-media-server's event pairs (which fire late or twice, e.g. donePublish
// 30 s after a disconnect, and for rejected sessions too).
import type { AccessRequest, Allowed } from "../access/access.js";
import type { ErrorCode } from "../errors.js";
import type { SessionCounts } from "../metrics/metrics.js";

export interface EdgeSession {
  readonly id: string;
  readonly role: "publisher" | "player";
  readonly protocol: "rtmp" | "flv";
  readonly app: string;
  readonly name: string;
  readonly ip: string;
  readonly startedAt: number;
  bytesIn(): number;
  bytesOut(): number;
  /** Ends the session now: socket destroyed, nothing more read or written. */
  end(code: ErrorCode): void;
  /** What was decided at the start, kept so a later change (revocation, new rule) can re-decide. */
  readonly request: AccessRequest;
  readonly decision: Allowed;
}

export class SessionTable implements SessionCounts {
  private readonly sessions = new Map<string, EdgeSession>();
  private readonly publishersByPath = new Map<string, EdgeSession>();
  /** Bytes of ended sessions, by direction and protocol (`bintu_edge_media_bytes_total`). */
  private readonly closedBytes = { in: { rtmp: 0, flv: 0 }, out: { rtmp: 0, flv: 0 } };

  add(session: EdgeSession): void {
    this.sessions.set(session.id, session);
    if (session.role === "publisher") this.publishersByPath.set(pathOf(session), session);
  }

  remove(session: EdgeSession): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    if (session.role === "publisher" && this.publishersByPath.get(pathOf(session)) === session) {
      this.publishersByPath.delete(pathOf(session));
    }
    this.closedBytes.in[session.protocol] += session.bytesIn();
    this.closedBytes.out[session.protocol] += session.bytesOut();
  }

  get(id: string): EdgeSession | undefined {
    return this.sessions.get(id);
  }

  all(): EdgeSession[] {
    return [...this.sessions.values()];
  }

  publisherOf(app: string, name: string): EdgeSession | undefined {
    return this.publishersByPath.get(`/${app}/${name}`);
  }

  /** Every session (publisher and players) of a stream name, in any app. */
  ofStream(name: string): EdgeSession[] {
    return this.all().filter((s) => s.name === name);
  }

  get size(): number {
    return this.sessions.size;
  }

  publishers(protocol: "rtmp"): number {
    return this.all().filter((s) => s.role === "publisher" && s.protocol === protocol).length;
  }

  players(protocol: "rtmp" | "flv"): number {
    return this.all().filter((s) => s.role === "player" && s.protocol === protocol).length;
  }

  bytes(direction: "in" | "out", protocol?: "rtmp" | "flv"): number {
    const closed = this.closedBytes[direction];
    let total = protocol ? closed[protocol] : closed.rtmp + closed.flv;
    for (const s of this.sessions.values()) {
      if (protocol && s.protocol !== protocol) continue;
      total += direction === "in" ? s.bytesIn() : s.bytesOut();
    }
    return total;
  }
}

export const pathOf = (s: { app: string; name: string }): string => `/${s.app}/${s.name}`;
