// The credential an edge pulls a stream with from another edge (issue 13 §2). It is the edge's, not
// a viewer's: SRS, MediaMTX and OvenMediaEngine forward the first viewer's query upstream, so the
// origin re-judges one viewer on behalf of all and a revoked viewer token breaks everyone's pull.
// Here the pulling edge signs `{aud, edge, stream, iat, exp}` with its own signing key; the fleet
// announces every edge's public keys through the change log (src/cluster/fleet-rules.ts fleetKeys),
// so the origin verifies it with the same key map as playback tokens. The audience keeps the two
// apart: a credential is never a playback token, a playback token never a credential.
// Pure: keys and the clock are handed in.
import type { ErrorCode } from "../errors.js";
import { signJws, verifyJws, type JwsKey } from "./jws.js";

export const EDGE_CREDENTIAL_AUDIENCE = "bintu-edge-pull";
/** Long enough for one connect and its retries; a leaked credential opens one stream for a minute. */
export const EDGE_CREDENTIAL_TTL_SEC = 60;
/** Clocks of two edges may differ a little (`iat` in the future). */
const SKEW_SEC = 30;
const MAX_LENGTH = 4096;

export function issueEdgeCredential(key: JwsKey, edge: string, path: string, nowSec: number): string {
  return signJws({ typ: "JWT" }, { aud: EDGE_CREDENTIAL_AUDIENCE, edge, stream: path, iat: nowSec, exp: nowSec + EDGE_CREDENTIAL_TTL_SEC }, key);
}

export type EdgeCredentialCheck = { ok: true; edge: string } | { ok: false; code: ErrorCode };

/** A credential for `path` (`/app/name`), signed by a key of the fleet and in its time window. */
export function verifyEdgeCredential(token: string, keys: ReadonlyMap<string, JwsKey>, path: string, nowSec: number): EdgeCredentialCheck {
  const jws = verifyJws(token, keys, MAX_LENGTH);
  if (!jws.ok) return { ok: false, code: "EDGE_ERR_TOKEN_INVALID" };
  const { aud, edge, stream, iat, exp } = jws.payload;
  if (aud !== EDGE_CREDENTIAL_AUDIENCE || typeof edge !== "string" || typeof iat !== "number" || typeof exp !== "number") {
    return { ok: false, code: "EDGE_ERR_TOKEN_INVALID" };
  }
  if (stream !== path) return { ok: false, code: "EDGE_ERR_TOKEN_SCOPE" };
  if (exp <= nowSec || iat > nowSec + SKEW_SEC || exp - iat > EDGE_CREDENTIAL_TTL_SEC) return { ok: false, code: "EDGE_ERR_TOKEN_EXPIRED" };
  return { ok: true, edge };
}
