import { randomBytes } from "node:crypto";
import { STREAM_NAME } from "../../primitives/stream-key.js";

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ORG_HASH_LENGTH = 5;
// 62^11 ≈ 2^65.5: the stream name is the publish secret, so it must not be guessable.
const SECRET_PART_LENGTH = 11;
// Bytes at or above the largest multiple of 62 that fits in a byte are rejected, so every
// character is equally likely (a plain `byte % 62` would favour the first 8 characters).
const UNBIASED_BYTE_LIMIT = 256 - (256 % ALPHANUMERIC.length);

const ORG_HASH_PATTERN = /^[A-Za-z0-9]{5}$/;

function randomAlphanumeric(length: number): string {
  let result = "";
  while (result.length < length) {
    // Ask for a little more than needed: about 3% of bytes are rejected.
    for (const byte of randomBytes(length + 8)) {
      if (byte >= UNBIASED_BYTE_LIMIT) continue;
      result += ALPHANUMERIC[byte % ALPHANUMERIC.length];
      if (result.length === length) break;
    }
  }
  return result;
}

export function generateOrgHash(): string {
  return randomAlphanumeric(ORG_HASH_LENGTH);
}

export function isValidOrgHash(orgHash: string): boolean {
  return ORG_HASH_PATTERN.test(orgHash);
}

/** `XXXXX-YYYYY` as in bintu: the organisation hash, then the random secret part. */
export function generateStreamName(orgHash: string): string {
  if (!isValidOrgHash(orgHash)) {
    throw new RangeError(`organisation hash must be ${ORG_HASH_LENGTH} characters [A-Za-z0-9]`);
  }
  return `${orgHash}-${randomAlphanumeric(SECRET_PART_LENGTH)}`;
}

/** The one rule for stream names, shared by the registry and the RTMP ingest. */
export function isValidStreamName(name: string): boolean {
  return STREAM_NAME.test(name);
}
