// Keys and claims shared by the auth tests. Key pairs are generated once per process (RSA takes a
// while); data dirs come fresh from tap per test.
import { createSecretKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import type { JwsAlg, JwsKey } from "../../src/auth/jws.js";
import type { ConfiguredKey } from "../../src/auth/keys.js";
import type { SplayClaims } from "../../src/auth/splay.js";

export const NOW = 1_800_000_000;
export const LEEWAY = 30;
export const MAX_LENGTH = 4096;
export const ISSUER = "bintu-edge";
export const ORG = "OrgAB";
export const HS_SECRET = "a-shared-secret-of-at-least-32-bytes!";

interface Pair {
  publicKey: KeyObject;
  privateKey: KeyObject;
  publicPem: string;
  privatePem: string;
}

function pair(kind: "ed25519" | "ec" | "rsa"): Pair {
  const { publicKey, privateKey } =
    kind === "ec"
      ? generateKeyPairSync("ec", { namedCurve: "prime256v1" })
      : kind === "rsa"
        ? generateKeyPairSync("rsa", { modulusLength: 2048 })
        : generateKeyPairSync("ed25519");
  return {
    publicKey,
    privateKey,
    publicPem: publicKey.export({ format: "pem", type: "spki" }) as string,
    privatePem: privateKey.export({ format: "pem", type: "pkcs8" }) as string,
  };
}

export const ED = pair("ed25519");
export const EC = pair("ec");
export const RSA = pair("rsa");

/** One key of each algorithm, as jws.ts takes them: `sign` private (or secret), `verify` public. */
export const JWS_KEYS: Record<JwsAlg, { sign: JwsKey; verify: JwsKey }> = (() => {
  const asym = (kid: string, alg: JwsAlg, p: Pair) => ({ sign: { kid, alg, key: p.privateKey }, verify: { kid, alg, key: p.publicKey } });
  const hs: JwsKey = { kid: "hs", alg: "HS256", key: createSecretKey(Buffer.from(HS_SECRET, "utf8")) };
  return { EdDSA: asym("ed", "EdDSA", ED), ES256: asym("ec", "ES256", EC), RS256: asym("rsa", "RS256", RSA), HS256: { sign: hs, verify: hs } };
})();

export const ALGS = Object.keys(JWS_KEYS) as JwsAlg[];

/** Verification map of all four keys, by kid. */
export const VERIFY_KEYS: ReadonlyMap<string, JwsKey> = new Map(ALGS.map((alg) => [JWS_KEYS[alg].verify.kid, JWS_KEYS[alg].verify]));

/** auth.keys entries for the same keys (verification only, except where a test adds privateKey). */
export const CONFIGURED: Record<JwsAlg, ConfiguredKey> = {
  EdDSA: { kid: "ed", alg: "EdDSA", publicKey: ED.publicPem },
  ES256: { kid: "ec", alg: "ES256", publicKey: EC.publicPem },
  RS256: { kid: "rsa", alg: "RS256", publicKey: RSA.publicPem },
  HS256: { kid: "hs", alg: "HS256", secret: HS_SECRET },
};

export function claims(over: Record<string, unknown> = {}): SplayClaims {
  return { aud: "splay", iss: ISSUER, sub: ORG, iat: NOW, jti: "jti-1", exp: NOW + 3600, streams: ["OrgAB-stream1"], ...over };
}
