// JWS compact serialisation (RFC 7515 §7.1) signed and verified with node:crypto directly: no JWT
// library at runtime (issue 6 bench: faster than fast-jwt and jose, synchronous, and the algorithm
// is the key's, never the token's — the root of every alg-confusion CVE, docs/reliability.md §2).
// Pure: no I/O, no clock. `verifyJws` never throws; any input it cannot vouch for is `{ ok: false }`.
import { createHmac, sign, timingSafeEqual, verify, type KeyObject } from "node:crypto";

/** The algorithms a configured key may use (RFC 7518 §3.1, RFC 8037 §3.1 for EdDSA = Ed25519). */
export type JwsAlg = "EdDSA" | "ES256" | "RS256" | "HS256";

/**
 * A key with the one algorithm it is used with. `key` is a public or secret KeyObject for
 * verification, a private or secret one for signing.
 */
export interface JwsKey {
  readonly kid: string;
  readonly alg: JwsAlg;
  readonly key: KeyObject;
}

export type JsonObject = Record<string, unknown>;

export type JwsResult = { ok: true; header: JsonObject; payload: JsonObject } | { ok: false };

const INVALID: JwsResult = Object.freeze({ ok: false });
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const SHA256_BYTES = 32;
// fatal: a token whose header or payload is not valid UTF-8 is refused, not repaired with U+FFFD.
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Strict base64url (RFC 7515 §2: no padding, no other characters) and canonical (RFC 4648 §3.5):
 * the unused low bits of the last character must be zero. Otherwise they could be changed without
 * changing the bytes, and an altered signature would still verify.
 */
function decodeBase64url(text: string): Buffer | null {
  if (!BASE64URL.test(text)) return null;
  const tail = text.length % 4;
  if (tail === 1) return null;
  if (tail !== 0) {
    const unusedBitsMask = tail === 2 ? 0b1111 : 0b11;
    if ((BASE64URL_ALPHABET.indexOf(text[text.length - 1]) & unusedBitsMask) !== 0) return null;
  }
  return Buffer.from(text, "base64url");
}

function decodeJsonObject(text: string): JsonObject | null {
  const bytes = decodeBase64url(text);
  if (bytes === null) return null;
  try {
    const value: unknown = JSON.parse(utf8.decode(bytes));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonObject) : null;
  } catch {
    return null;
  }
}

function hmacSha256(key: KeyObject, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** ES256 signatures in JWS are raw r||s (RFC 7518 §3.4), not DER. */
function signatureOptions(jwsKey: JwsKey): { key: KeyObject; dsaEncoding?: "ieee-p1363" } {
  return jwsKey.alg === "ES256" ? { key: jwsKey.key, dsaEncoding: "ieee-p1363" } : { key: jwsKey.key };
}

const digestOf = (alg: JwsAlg): string | null => (alg === "EdDSA" ? null : "sha256");

function checkSignature(jwsKey: JwsKey, signingInput: string, signature: Buffer): boolean {
  if (jwsKey.alg === "HS256") {
    // Both sides are 32-byte digests, so timingSafeEqual neither throws nor leaks a length.
    return signature.length === SHA256_BYTES && timingSafeEqual(hmacSha256(jwsKey.key, signingInput), signature);
  }
  return verify(digestOf(jwsKey.alg), Buffer.from(signingInput), signatureOptions(jwsKey), signature);
}

/**
 * Signs `payload` with `signingKey`. The header's `alg` and `kid` always come from the key, so a
 * caller cannot produce a token that names another algorithm than the one that signed it.
 */
export function signJws(header: JsonObject, payload: JsonObject, signingKey: JwsKey): string {
  const head = Buffer.from(JSON.stringify({ ...header, alg: signingKey.alg, kid: signingKey.kid })).toString("base64url");
  const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
  const signingInput = `${head}.${body}`;
  const signature =
    signingKey.alg === "HS256"
      ? hmacSha256(signingKey.key, signingInput)
      : sign(digestOf(signingKey.alg), Buffer.from(signingInput), signatureOptions(signingKey));
  return `${signingInput}.${signature.toString("base64url")}`;
}

/**
 * Verifies a compact JWS against the key its `kid` names. Order: length (before any parsing), three
 * parts, header (object, `kid` known, `alg` equal to the key's, no `crit` — RFC 7515 §4.1.11: we
 * understand no extension), signature, and only then the payload (a JSON object).
 */
export function verifyJws(token: string, keys: ReadonlyMap<string, JwsKey>, maxLength: number): JwsResult {
  try {
    if (typeof token !== "string" || token.length > maxLength) return INVALID;
    const parts = token.split(".");
    if (parts.length !== 3) return INVALID;
    const [head, body, sig] = parts;
    const header = decodeJsonObject(head);
    if (header === null || typeof header.kid !== "string" || header.crit !== undefined) return INVALID;
    const jwsKey = keys.get(header.kid);
    if (jwsKey === undefined || header.alg !== jwsKey.alg) return INVALID;
    const signature = decodeBase64url(sig);
    if (signature === null || !checkSignature(jwsKey, `${head}.${body}`, signature)) return INVALID;
    const payload = decodeJsonObject(body);
    return payload === null ? INVALID : { ok: true, header, payload };
  } catch {
    // OpenSSL may reject a malformed signature by throwing rather than answering false.
    return INVALID;
  }
}
