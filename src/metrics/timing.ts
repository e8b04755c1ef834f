// Latency histograms wrapped around two ports, so the code that makes a decision or a lookup
// stays free of timers (issue 17 §3): the access check every adapter calls, and the stream source
// behind the directory's cache (a miss in the cache is what reaches the registry or bintu).
import type { Histogram } from "prom-client";
import type { StreamSource } from "../bintu/directory.js";

interface Checked {
  readonly action: string;
  readonly protocol: string;
}

/**
 * Times every `check` of an access control (RTMP, HTTP-FLV, /v1/authorize/play all call it), from
 * the call to its decision. The method is replaced on the instance: callers keep their type.
 */
export function timeDecisions<R extends Checked, D extends { allow: boolean }>(
  access: { check(req: R): Promise<D> },
  histogram: Histogram<"action" | "protocol" | "result">,
): void {
  const check = access.check.bind(access);
  access.check = async (req: R): Promise<D> => {
    const started = performance.now();
    let result = "error";
    try {
      const decision = await check(req);
      result = decision.allow ? "allow" : "deny";
      return decision;
    } finally {
      histogram.observe({ action: req.action, protocol: req.protocol, result }, (performance.now() - started) / 1000);
    }
  };
}

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
