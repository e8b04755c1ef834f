// Validates bintu stream JSON that arrives over the network (issue 4 §1): a remote bintu is a
// peer we trust for state, not for shape. Anything that does not match is an error the directory
// turns into EDGE_ERR_BINTU_UNAVAILABLE — a wrong shape is never read as "allow".
import { Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { StreamInfo } from "./directory.js";

// Only the fields a decision reads are checked; bintu sends many more (playout, created_at,
// webrtc, …: docs/nanostream.md §1.3) and adds fields over time, so extra properties are accepted.
// `tags` is required: Guardian rules can be scoped to a tag, and a missing list read as "no tags"
// would let a tag-scoped deny rule pass.
const StreamJson = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128 }),
  state: Type.Union(["created", "live", "ended", "locked", "deleted"].map((s) => Type.Literal(s))),
  tags: Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 1024 }),
  ingest: Type.Object({ rtmp: Type.Object({ streamname: Type.String({ minLength: 1, maxLength: 256 }) }) }),
});

const checkList = TypeCompiler.Compile(Type.Array(StreamJson));

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** `GET /stream` answers: a JSON array of bintu streams → StreamInfo[], or why not. */
export function parseStreamList(json: unknown): Parsed<StreamInfo[]> {
  if (!checkList.Check(json)) {
    const first = checkList.Errors(json).First();
    return { ok: false, reason: `unexpected stream JSON at ${first?.path || "/"}: ${first?.message ?? "invalid"}` };
  }
  // Copy the fields out: nothing else of the peer's object travels further into the edge.
  const value = json.map((s) => ({
    id: s.id,
    name: s.ingest.rtmp.streamname,
    state: s.state as StreamInfo["state"],
    tags: Object.freeze([...s.tags]),
  }));
  return { ok: true, value };
}
