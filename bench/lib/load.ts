// One HTTP load run with autocannon from this process, shared by bench:hooks, bench:routing and
// bench:cluster: requests per second, latency percentiles from the per-response times (autocannon's
// own histogram keeps whole milliseconds), and the server's CPU per answered request from /proc,
// which a loaded machine distorts less than req/s.
import autocannon from "autocannon";
import { sampleProc } from "./proc.js";
import { percentile } from "./stats.js";

export interface Load {
  rps: number;
  p50: number;
  p99: number;
  /** Answered requests (2xx and others). */
  requests: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Server CPU, % of one core, over the run. */
  serverCpu: number;
  /** Server CPU µs per answered request. */
  cpuPerReq: number;
  /** This process (autocannon), % of one core. */
  clientCpu: number;
}

export interface LoadRun {
  port: number;
  /** The server's PID, for its CPU. */
  pid: number;
  connections: number;
  seconds: number;
  requests: autocannon.Request[];
}

export async function loadOnce(run: LoadRun): Promise<Load> {
  const s0 = sampleProc(run.pid);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const inst = autocannon(
      { url: `http://127.0.0.1:${run.port}`, connections: run.connections, duration: run.seconds, timeout: 5, requests: run.requests },
      (err, res) => (err ? reject(err as Error) : resolve(res)),
    );
    inst.on("response", (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.push(ms));
    // Bound in time even if the server stops answering.
    const guard = setTimeout(() => inst.stop(), (run.seconds + 15) * 1000);
    inst.once("done", () => clearTimeout(guard));
  });
  const wall = (performance.now() - t0) / 1000;
  const s1 = sampleProc(run.pid);
  const c = process.cpuUsage(c0);
  const cpuS = s0 && s1 ? s1.cpuS - s0.cpuS : NaN;
  const answered = result["2xx"] + result.non2xx;
  return {
    rps: result.requests.average,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    requests: answered,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    serverCpu: (cpuS / wall) * 100,
    cpuPerReq: (cpuS / Math.max(1, answered)) * 1e6,
    clientCpu: ((c.user + c.system) / 1e6 / wall) * 100,
  };
}
