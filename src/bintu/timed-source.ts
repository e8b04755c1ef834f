// A stream source whose lookups are timed (issue 17 §3: bintu_edge_bintu_lookup_duration_seconds),
// so the registry and the remote client stay free of timers. It wraps the source behind the
// directory's cache: a miss in the cache is what reaches the registry or bintu.
import type { StreamSource } from "./directory.js";

export type LookupResult = "found" | "unknown" | "error";

export function timedSource(source: StreamSource, observe: (result: LookupResult, seconds: number) => void): StreamSource {
  return {
    async findByName(name, signal) {
      const started = performance.now();
      let result: LookupResult = "error";
      try {
        const stream = await source.findByName(name, signal);
        result = stream ? "found" : "unknown";
        return stream;
      } finally {
        observe(result, (performance.now() - started) / 1000);
      }
    },
    reportLive: (name) => source.reportLive(name),
    reportEnded: (name) => source.reportEnded(name),
    onChange: (listener) => source.onChange(listener),
  };
}
