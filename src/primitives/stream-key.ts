// What a client names — app, stream name, query — validated once, the same way for RTMP and HTTP
// (issue 3 §3). Nothing a client names reaches a file path or a shell; these rules also keep
// names inside the charset node-media-server accepts.
//
// A leaf (docs/layers.md): no import of the project outside src/primitives. A refusal is one of the three `EDGE_ERR_*`
// codes it stands for, spelt as a closed union here rather than imported from src/errors.ts; every
// caller hands it on where an ErrorCode is expected, so tsc checks that the three stay codes of
// the table (codes are never renamed: src/errors.ts).
import { formPairs } from "./form-pairs.js";

export const STREAM_NAME = /^[A-Za-z0-9_-]{1,128}$/;
export const APP_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_QUERY_LENGTH = 2048;

export type Query = Readonly<Record<string, string>>;
/** Why a client-named app, stream name or query is refused: a subset of src/errors.ts's ErrorCode. */
export type NameRefusal = "EDGE_ERR_BAD_NAME" | "EDGE_ERR_BAD_QUERY" | "EDGE_ERR_BAD_APP";
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: NameRefusal };

/**
 * Splits `NAME?k=v&…` (an RTMP stream key or an HTTP path's name + query). Anything after `?` is
 * custom data for the webhook, never part of the name (docs/architecture.md §2).
 */
export function parseStreamKey(raw: unknown): Parsed<{ name: string; query: Query }> {
  if (typeof raw !== "string") return { ok: false, error: "EDGE_ERR_BAD_NAME" };
  const q = raw.indexOf("?");
  const name = q < 0 ? raw : raw.slice(0, q);
  if (!STREAM_NAME.test(name)) return { ok: false, error: "EDGE_ERR_BAD_NAME" };
  const query = parseQuery(q < 0 ? "" : raw.slice(q + 1));
  return query.ok ? { ok: true, value: { name, query: query.value } } : query;
}

/** A repeated key is refused: NMS 4.4.3 crashed on it, and two values for one key are ambiguous. */
export function parseQuery(raw: string): Parsed<Query> {
  if (raw.length > MAX_QUERY_LENGTH || raw.includes("\0")) return { ok: false, error: "EDGE_ERR_BAD_QUERY" };
  const query = Object.create(null) as Record<string, string>;
  // formPairs gives what URLSearchParams did (property-tested), without its object and iterator:
  // ~2 µs of an SRS hook call in the profile under bench:hooks (issue 14 §9).
  for (const [key, value] of formPairs(raw)) {
    if (key in query) return { ok: false, error: "EDGE_ERR_BAD_QUERY" };
    query[key] = value;
  }
  return { ok: true, value: query };
}

const PLAY_PATH = /^\/([^/?]*)\/([^/?]*?)(\.flv)?(?:\?(.*))?$/;

/**
 * A play URL's path and query, `/APP/NAME.flv?k=v` — matched on the raw URL, before any
 * percent-decoding, so `%2E`, `%2F` or `%00` can never form a name. `null` when the path is not
 * a play path at all (with `requireFlv`: not ending in `.flv`).
 */
export function parsePlayPath(rawUrl: string, requireFlv: boolean): Parsed<{ app: string; name: string; query: Query }> | null {
  const match = PLAY_PATH.exec(rawUrl);
  if (!match || (requireFlv && match[3] === undefined)) return null;
  const [, app, name, , rawQuery = ""] = match;
  if (!APP_NAME.test(app)) return { ok: false, error: "EDGE_ERR_BAD_APP" };
  if (!STREAM_NAME.test(name)) return { ok: false, error: "EDGE_ERR_BAD_NAME" };
  const query = parseQuery(rawQuery);
  return query.ok ? { ok: true, value: { app, name, query: query.value } } : query;
}
