import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const API_KEY_FILE = "bintu-apikey";

function readStoredKey(path: string): string | undefined {
  try {
    const key = readFileSync(path, "utf8").trim();
    if (key === "") throw new Error(`${path} is empty: remove it to generate a new API key`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * The organisation API key the embedded registry accepts (docs/architecture.md §2 `bintu.apiKey`):
 * the configured one, else the one generated into the data dir on an earlier start, else a
 * new one. `created` tells the caller to print it, once.
 */
export function loadOrCreateApiKey(dataDir: string, configured: string): { key: string; created: boolean } {
  if (configured !== "") return { key: configured, created: false };
  const path = join(dataDir, API_KEY_FILE);
  const stored = readStoredKey(path);
  if (stored !== undefined) return { key: stored, created: false };

  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32).toString("base64url");
  try {
    // 0600: the key grants nanoAdmin. `wx` never overwrites a key another process just wrote.
    writeFileSync(path, key, { mode: 0o600, flag: "wx" });
  } catch (err) {
    // Another process sharing the data dir won the race: use its key.
    const writtenMeanwhile = (err as NodeJS.ErrnoException).code === "EEXIST" ? readStoredKey(path) : undefined;
    if (writtenMeanwhile === undefined) throw err;
    return { key: writtenMeanwhile, created: false };
  }
  return { key, created: true };
}
