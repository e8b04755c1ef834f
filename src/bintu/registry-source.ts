// The embedded registry as a stream source for the directory (bintu.mode: embedded).
import type { StreamInfo, StreamSource } from "./directory.js";
import type { StreamRecord, StreamRegistry } from "./registry/registry.js";

const toInfo = (rec: StreamRecord): StreamInfo => ({ id: rec.id, name: rec.name, state: rec.state, tags: rec.tags });

export function registrySource(registry: StreamRegistry): StreamSource {
  return {
    findByName: async (name) => {
      const rec = registry.findByName(name);
      return rec ? toInfo(rec) : null;
    },
    reportLive: async (name) => void registry.markLive(name),
    reportEnded: async (name) => void registry.markEnded(name),
    onChange: (listener) => registry.onChange((rec) => listener(toInfo(rec))),
  };
}
