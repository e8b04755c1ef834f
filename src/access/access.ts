// The one place that knows the order of checks (DESIGN.md §1 src/access). `decide` is pure;
// `AccessControl.check` does the lookups it needs and hands their answers to `decide`.
// Tokens (issue 6) and Guardian rules (issue 5) plug in here.
import type { StreamDirectory, StreamInfo } from "../bintu/directory.js";
import { EdgeError, type ErrorCode } from "../errors.js";
import type { Query } from "./stream-key.js";

export interface AccessRequest {
  readonly action: "publish" | "play";
  readonly protocol: "rtmp" | "flv" | "http";
  readonly app: string;
  readonly name: string;
  readonly query: Query;
  readonly ip: string;
  /**
   * Whether this edge has a publisher on the stream right now; absent when another server serves
   * the media and only asks for the decision (GET /v1/authorize/play).
   */
  readonly liveHere?: boolean;
  /** HTTP players only: the page that embeds the player (Guardian referrer rules, token domains). */
  readonly referer?: string;
  readonly origin?: string;
}

export type Allowed = { allow: true; stream: StreamInfo };
export type Decision = Allowed | { allow: false; code: ErrorCode };

const deny = (code: ErrorCode): Decision => ({ allow: false, code });

export function decide(req: AccessRequest, apps: readonly string[], stream: StreamInfo | null): Decision {
  if (!apps.includes(req.app)) return deny("EDGE_ERR_BAD_APP");
  if (!stream) return deny("EDGE_ERR_STREAM_UNKNOWN");
  if (stream.state === "deleted") return deny("EDGE_ERR_STREAM_DELETED");
  if (stream.state === "locked") return deny("EDGE_ERR_STREAM_LOCKED");
  if (req.action === "publish") return req.liveHere ? deny("EDGE_ERR_STREAM_BUSY") : { allow: true, stream };
  return req.liveHere === false ? deny("EDGE_ERR_STREAM_NOT_LIVE") : { allow: true, stream };
}

export class AccessControl {
  constructor(
    private readonly directory: StreamDirectory,
    private readonly apps: readonly string[],
  ) {}

  async check(req: AccessRequest): Promise<Decision> {
    if (!this.apps.includes(req.app)) return deny("EDGE_ERR_BAD_APP");
    try {
      return decide(req, this.apps, await this.directory.lookup(req.name));
    } catch (err) {
      // Fail closed (DESIGN.md §4): an unreachable directory never allows.
      return deny(err instanceof EdgeError ? err.code : "EDGE_ERR_BINTU_UNAVAILABLE");
    }
  }
}
