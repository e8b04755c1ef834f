#!/usr/bin/env node
// The `bintu-edge` command. Signals and exit codes live only here (docs/architecture.md §1):
// 0 clean stop, 1 start-up failure (e.g. a port in use), 2 invalid configuration or usage.
import { ConfigError, formatConfigError, loadConfig } from "./config/load.js";
import { runTokenCommand } from "./cli-token.js";
import { createEdge, EdgeStartError } from "./server.js";

const USAGE = `usage: bintu-edge [--config FILE]      run the edge (defaults: RTMP 1935, HTTP-FLV 8000, API 8080)
       bintu-edge check-config FILE     validate FILE (and EDGE_* variables) without starting
       bintu-edge token create --stream NAME --ttl 1h [--ip A] [--domain D] [--revocable]
                  [--force-disconnect] [--config FILE]   print a playback token signed with the local key
Every config key can also be set by environment variable, e.g. EDGE_RTMP_PORT=1936.`;

const SHUTDOWN_DEADLINE_MS = 5_000;

function fail(message: string, exitCode: number): never {
  process.stderr.write(message.endsWith("\n") ? message : message + "\n");
  process.exit(exitCode);
}

function parseArgs(argv: string[]): { command: "run" | "check-config" | "token" | "help"; file?: string } {
  if (argv[0] === "token") {
    const at = argv.indexOf("--config");
    return { command: "token", file: at > 0 ? argv[at + 1] : undefined };
  }
  if (argv[0] === "check-config") {
    if (argv.length !== 2) fail(USAGE, 2);
    return { command: "check-config", file: argv[1] };
  }
  if (argv.length === 0) return { command: "run" };
  if (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h")) return { command: "help" };
  if (argv.length === 2 && argv[0] === "--config") return { command: "run", file: argv[1] };
  fail(USAGE, 2);
}

function load(file: string | undefined) {
  try {
    return loadConfig({ file, env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) fail(formatConfigError(err, file ?? "defaults + environment"), 2);
    throw err;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.command === "help") return void process.stdout.write(USAGE + "\n");
  const config = load(args.file);
  if (args.command === "check-config") return void process.stdout.write(`${args.file}: configuration is valid\n`);
  if (args.command === "token") process.exit(runTokenCommand(process.argv.slice(3), config));

  let edge;
  try {
    edge = createEdge(config);
    if (edge.apiKeyCreated) {
      process.stdout.write(`bintu API key (X-BINTU-APIKEY), generated and stored in ${config.dataDir}/bintu-apikey; shown once:\n${edge.apiKey}\n`);
    }
    const addresses = await edge.start();
    // `rtmp N` first stays what scripts parse; with plain RTMP off the first word says rtmps.
    const first = addresses.rtmps && !config.rtmp.plain ? `rtmps ${addresses.rtmps.port}` : `rtmp ${addresses.rtmp.port}`;
    const rtmps = addresses.rtmps && config.rtmp.plain ? `, rtmps ${addresses.rtmps.port}` : "";
    const scheme = addresses.rtmps ? " (https)" : "";
    process.stdout.write(`bintu-edge ready: ${first}, playback ${addresses.playback.port}, api ${addresses.api.port}${rtmps}${scheme}\n`);
  } catch (err) {
    if (err instanceof EdgeStartError) fail(`bintu-edge: ${err.message}`, 1);
    throw err;
  }

  const running = edge;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`bintu-edge: ${signal}, closing\n`);
    setTimeout(() => fail("bintu-edge: shutdown took longer than 5 s, exiting", 1), SHUTDOWN_DEADLINE_MS).unref();
    running.close().then(
      () => process.exit(0),
      (err: Error) => fail(`bintu-edge: shutdown failed: ${err.message}`, 1),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err: Error) => fail(`bintu-edge: ${err.stack ?? err.message}`, 1));
