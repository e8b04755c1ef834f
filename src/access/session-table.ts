// The edge's own table of running sessions (docs/architecture.md, src/access): who is live and who
// watches come from here, never from node-media-server's event pairs (which fire late or twice,
// e.g. donePublish 30 s after a disconnect, and for rejected sessions too). Adapters add a session
// through the live-session policy once its decision allowed it and remove it when its socket
// closes; the policy, the metrics, the load report and the API read it.
import type { EdgeSession, StreamLocation } from "./types.js";

export type { EdgeSession } from "./types.js";

const HERE: StreamLocation = { at: "here" };
const NOWHERE: StreamLocation = { at: "nowhere" };

export class SessionTable {
  private readonly sessions = new Map<string, EdgeSession>();
  private readonly publishersByPath = new Map<string, EdgeSession>();
  /** Sessions by stream name (any app): stream changes and publish ends look them up without a scan. */
  private readonly byName = new Map<string, Set<EdgeSession>>();
  /** Bytes of ended sessions, by direction and protocol (`bintu_edge_media_bytes_total`). */
  private readonly closedBytes = { in: { rtmp: 0, flv: 0 }, out: { rtmp: 0, flv: 0 } };

  add(session: EdgeSession): void {
    this.sessions.set(session.id, session);
    // A foreign server's publisher of a key that is live here (hooks decide with media "elsewhere",
    // never asking where it is live) does not take this edge's publisher's place in the index.
    const current = session.role === "publisher" ? this.publishersByPath.get(pathOf(session)) : undefined;
    if (session.role === "publisher" && !(session.foreign && current && !current.foreign)) this.publishersByPath.set(pathOf(session), session);
    let named = this.byName.get(session.name);
    if (!named) this.byName.set(session.name, (named = new Set()));
    named.add(session);
  }

  /** False when the session was not (or no longer) in the table. */
  remove(session: EdgeSession): boolean {
    if (this.sessions.get(session.id) !== session) return false;
    this.sessions.delete(session.id);
    if (session.role === "publisher" && this.publishersByPath.get(pathOf(session)) === session) {
      this.publishersByPath.delete(pathOf(session));
    }
    const named = this.byName.get(session.name);
    named?.delete(session);
    if (named?.size === 0) this.byName.delete(session.name);
    this.closedBytes.in[session.protocol] += session.bytesIn();
    this.closedBytes.out[session.protocol] += session.bytesOut();
    return true;
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

  /**
   * This edge's answer to "where is this stream live?" (the StreamLocator of a single edge). A key
   * live on a foreign server (issue 14) is live elsewhere: busy for a publish here, not playable here.
   */
  locate(app: string, name: string): StreamLocation {
    const publisher = this.publishersByPath.get(`/${app}/${name}`);
    if (!publisher) return NOWHERE;
    return publisher.foreign ? { at: "edge", edge: publisher.foreign.server } : HERE;
  }

  /** Every session (publisher and players) of a stream name, in any app. */
  ofStream(name: string): EdgeSession[] {
    const named = this.byName.get(name);
    return named ? [...named] : [];
  }

  get size(): number {
    return this.sessions.size;
  }

  publishers(protocol: "rtmp"): number {
    let n = 0;
    for (const s of this.publishersByPath.values()) if (s.protocol === protocol && !s.foreign) n++;
    return n;
  }

  players(protocol: "rtmp" | "flv"): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.role === "player" && s.protocol === protocol && !s.foreign) n++;
    return n;
  }

  relays(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.role === "relay") n++;
    return n;
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
