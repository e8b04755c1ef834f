// A small structured logger: one line per event, `key=value` fields, to stderr.
// Secrets (API keys, stream keys' query strings, tokens) are never passed to it. A stream name is a
// publish key (bintu's model, issue 18 §4): info and above log `streamRef(name)`, the name itself
// only at debug.
import { createHmac, randomBytes } from "node:crypto";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function formatValue(v: string | number | boolean | null | undefined): string {
  const s = String(v);
  return /^[^\s"=]*$/.test(s) && s !== "" ? s : JSON.stringify(s);
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (lvl: Exclude<LogLevel, "silent">, msg: string, fields?: LogFields) => {
    if (RANK[lvl] < RANK[level]) return;
    let line = `${new Date().toISOString()} ${lvl} ${msg}`;
    for (const [k, v] of Object.entries(fields ?? {})) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
    write(line + "\n");
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

/** Per process: a reference cannot be reversed by hashing guessed names, and means nothing elsewhere. */
const REF_KEY = randomBytes(32);

/**
 * A short keyed hash of a stream name for logs at info and above: lines of one stream correlate
 * (`stream=ref:…`), and reading the log gives no one the publish key. Not stable across restarts.
 */
export function streamRef(name: string): string {
  return "ref:" + createHmac("sha256", REF_KEY).update(name).digest("hex").slice(0, 12);
}
