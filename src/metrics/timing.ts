// The bintu lookup histogram wrapped around the stream source port, so the sources stay free of
// timers (issue 17 §3): a miss in the directory's cache is what reaches the registry or bintu.
import type { Histogram } from "prom-client";
import type { StreamSource } from "../bintu/directory.js";

/** A stream source whose `findByName` is timed by mode and result; the rest passes through. */
export function timedSource(source: StreamSource, mode: "embedded" | "remote", histogram: Histogram<"mode" | "result">): StreamSource {
  return {
    async findByName(name, signal) {
      const started = performance.now();
      let result = "error";
      try {
        const stream = await source.findByName(name, signal);
        result = stream ? "found" : "unknown";
        return stream;
      } finally {
        histogram.observe({ mode, result }, (performance.now() - started) / 1000);
      }
    },
    reportLive: (name) => source.reportLive(name),
    reportEnded: (name) => source.reportEnded(name),
    onChange: (listener) => source.onChange(listener),
  };
}
