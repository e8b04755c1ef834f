// Stream lock / unlock / delete through the fleet (issue 12 "Part log"). The edge that holds the
// embedded registry posts each change of a stream's lock or delete as a `stream:<name>` record;
// edges in remote mode (whose bintu is that registry) apply them as pushed changes of their stream
// source: the directory drops its cached entry and the live-session policy ends a publisher of a
// locked or deleted stream at once, instead of at its next re-validation.
//
// Live / ended transitions are not posted: they change nothing another edge decides with.
import type { StreamInfo, StreamSource } from "../bintu/directory.js";
import type { Logger } from "../log.js";
import type { Replica } from "./replica.js";

export interface StreamRecordValue {
  readonly id: string;
  readonly state: StreamInfo["state"];
  readonly tags: readonly string[];
  readonly locked: boolean;
  readonly deleted: boolean;
}

const recordOf = (s: StreamInfo): StreamRecordValue => ({
  id: s.id,
  state: s.state,
  tags: s.tags,
  locked: s.state === "locked",
  deleted: s.state === "deleted",
});

/**
 * The registry holder's side: every lock / unlock / delete of `registry` is posted. A change while
 * Redis is down is logged and left out (the registry stays the truth; remote edges learn it at their
 * next re-validation, as without a fleet).
 */
export function postStreamChanges(replica: Replica, registry: Pick<StreamSource, "onChange">, log: Logger): () => void {
  return registry.onChange((stream) => {
    const record = recordOf(stream);
    const known = replica.get(`stream:${stream.name}`) as StreamRecordValue | undefined;
    // A first sighting matters only when it locks or deletes; after that, any change of the flags.
    if (known === undefined ? !record.locked && !record.deleted : known.locked === record.locked && known.deleted === record.deleted) return;
    replica
      .post(`stream:${stream.name}`, record)
      .catch((err: Error) =>
        log.warn("posting a stream change to the fleet failed; remote edges learn it at re-validation", { stream: stream.id, error: err.message }),
      );
  });
}

/** A remote edge's stream source with the fleet's pushed changes added to its own (a remote bintu pushes none). */
export function withFleetStreamChanges(source: StreamSource, replica: Replica): StreamSource {
  const listeners = new Set<(stream: StreamInfo) => void>();
  replica.on("stream", {
    apply: (name, value) => {
      if (value === null) return;
      const v = value as StreamRecordValue;
      const info: StreamInfo = { id: v.id, name, state: v.state, tags: v.tags };
      for (const listener of listeners) listener(info);
    },
  });
  return {
    findByName: (name, signal) => source.findByName(name, signal),
    reportLive: (name) => source.reportLive(name),
    reportEnded: (name) => source.reportEnded(name),
    onChange(listener) {
      const own = source.onChange(listener);
      listeners.add(listener);
      return () => {
        own();
        listeners.delete(listener);
      };
    },
  };
}
