// `bintu-edge token create …` (issue 6 "CLI"): the quickest way to secure a test stream — a token
// signed with this edge's own key set (the data dir's generated key or the newest configured one),
// so the running edge verifies it with no API call.
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { loadKeySet } from "./auth/keys.js";
import { issueSplayToken } from "./auth/splay.js";
import { StreamRegistry } from "./bintu/registry/registry.js";
import type { Config } from "./config/schema.js";

export const TOKEN_USAGE = `usage: bintu-edge token create --stream NAME [--stream NAME…] [--ttl 1h] [--ip A.B.C.D] [--domain D]
                              [--revocable] [--force-disconnect] [--config FILE]
  --ttl  lifetime: a number with s, m, h or d (default 1h; at most 24h with --revocable, else 365d)
Prints a playback token (jwtoken) for the named streams, signed with this edge's key.`;

export interface TokenCommandIo {
  out(text: string): void;
  err(text: string): void;
}

const stdio: TokenCommandIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const DEFAULT_TTL = "1h";

function parseTtl(text: string): number | null {
  const m = /^([1-9]\d{0,8})([smhd])$/.exec(text);
  return m ? Number(m[1]) * TTL_UNITS[m[2]] : null;
}

type Parsed = { ok: true; body: Record<string, unknown> } | { ok: false; message: string };

function parseCreate(args: string[], nowSec: number): Parsed {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        stream: { type: "string", multiple: true },
        ttl: { type: "string", default: DEFAULT_TTL },
        ip: { type: "string" },
        domain: { type: "string" },
        revocable: { type: "boolean" },
        "force-disconnect": { type: "boolean" },
        // Read by the caller to load the config; accepted here so it may stand anywhere.
        config: { type: "string" },
      },
    }));
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
  if (!values.stream?.length) return { ok: false, message: "--stream NAME is required" };
  const ttl = parseTtl(values.ttl);
  if (ttl === null) return { ok: false, message: `--ttl ${values.ttl}: expected a number with s, m, h or d, e.g. 1h` };
  const body: Record<string, unknown> = { streams: values.stream, exp: nowSec + ttl };
  if (values.ip !== undefined) body.ip = values.ip;
  if (values.domain !== undefined) body.domain = values.domain;
  if (values.revocable) body.revocable = true;
  if (values["force-disconnect"]) body.forceDisconnect = true;
  return { ok: true, body };
}

/** The organisation hash (`sub`) as the edge itself resolves it: configured, else the registry's stored one. */
function organisation(config: Config): string {
  const registry = StreamRegistry.open(config.dataDir, { orgHash: config.bintu.orgHash });
  try {
    return registry.orgHash;
  } finally {
    registry.close();
  }
}

/**
 * Runs `token …` (argv = the arguments after `token`). Returns the exit code: 0 printed a token,
 * 2 usage, configuration or key error (src/cli.ts's code for those). An I/O failure (data dir not
 * writable) throws, for the caller's top-level handler (exit 1).
 */
export function runTokenCommand(argv: string[], config: Config, io: TokenCommandIo = stdio): number {
  if (argv[0] !== "create") {
    io.err(TOKEN_USAGE + "\n");
    return 2;
  }
  const nowSec = Math.floor(Date.now() / 1000);
  const parsed = parseCreate(argv.slice(1), nowSec);
  if (!parsed.ok) {
    io.err(`bintu-edge token: ${parsed.message}\n${TOKEN_USAGE}\n`);
    return 2;
  }
  let keys;
  try {
    keys = loadKeySet(config.dataDir, config.auth.keys);
  } catch (err) {
    io.err(`bintu-edge token: ${(err as Error).message}\n`);
    return 2;
  }
  const issued = issueSplayToken(parsed.body, {
    signingKey: keys.signing!,
    issuer: config.auth.issuer,
    org: organisation(config),
    jti: randomUUID(),
    nowSec,
    maxLength: config.auth.maxTokenLength,
  });
  if (!issued.ok) {
    io.err(`bintu-edge token: Parameter required: ${issued.parameter}\n`);
    return 2;
  }
  io.out(issued.token + "\n");
  return 0;
}
