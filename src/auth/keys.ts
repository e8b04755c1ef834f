// Signing and verification keys for playback tokens (issue 6 "Keys"): an Ed25519 key generated on
// first start (nanoStream signs with EdDSA, docs/nanostream.md §2.2) plus configured keys for rotation
// and fleets. Sign with the newest; verify with any key by `kid`; publish the public ones as JWKS
// (RFC 7517) so other edges verify offline.
import { createHash, createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import type { JwsAlg, JwsKey } from "./jws.js";

export type ConfiguredKey = Config["auth"]["keys"][number];

/** A public JWK as published: key members plus `kid`, `alg`, `use` (RFC 7517 §4). */
export type PublicJwk = JsonWebKey & { kid: string; alg: JwsAlg; use: "sig" };

export interface Jwks {
  keys: PublicJwk[];
}

export interface KeySet {
  /** The key new tokens are signed with; null for a verification-only set (keySetFromJwks). */
  readonly signing: JwsKey | null;
  /** Every key a token may name in its `kid`, each with its one algorithm. */
  readonly verification: ReadonlyMap<string, JwsKey>;
  /** The public keys only: never an HS256 secret, never a private member. */
  jwks(): Jwks;
}

export const GENERATED_KEY_FILE = "splay-signing-key.pem";

/** Members that define each key type, in the lexicographic order RFC 7638 §3.2 hashes them in. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  OKP: ["crv", "kty", "x"], // RFC 8037 §2
  EC: ["crv", "kty", "x", "y"],
  RSA: ["e", "kty", "n"],
};

/** What each algorithm's key must be: `asymmetricKeyType` and, for EC, the curve (RFC 7518 §3.4). */
const KEY_TYPE: Record<Exclude<JwsAlg, "HS256">, { type: string; curve?: string; name: string }> = {
  EdDSA: { type: "ed25519", name: "Ed25519" },
  ES256: { type: "ec", curve: "prime256v1", name: "P-256" },
  RS256: { type: "rsa", name: "RSA" },
};

// RFC 7518 §3.3: RS256 keys of 2048 bits or more.
const MIN_RSA_BITS = 2048;

function publicMembers(jwk: JsonWebKey): JsonWebKey {
  const members = THUMBPRINT_MEMBERS[jwk.kty ?? ""];
  if (members === undefined) throw new Error(`unsupported key type ${String(jwk.kty)}`);
  return Object.fromEntries(members.map((m) => [m, jwk[m]]));
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key: a kid derived from the key itself. */
export function jwkThumbprint(publicKey: KeyObject): string {
  const canonical = JSON.stringify(publicMembers(publicKey.export({ format: "jwk" })));
  return createHash("sha256").update(canonical).digest("base64url");
}

/** Throws unless `key` is the kind of key `alg` signs with (so HS/RS confusion cannot be configured). */
function checkKeyFitsAlg(key: KeyObject, alg: Exclude<JwsAlg, "HS256">, where: string): void {
  const want = KEY_TYPE[alg];
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== want.type || (want.curve && details?.namedCurve !== want.curve)) {
    const got = [key.asymmetricKeyType ?? key.type, details?.namedCurve].filter(Boolean).join(" ");
    throw new Error(`${where}: ${alg} needs a key of type ${want.name}, got ${got}`);
  }
  if (alg === "RS256" && (details?.modulusLength ?? 0) < MIN_RSA_BITS) {
    throw new Error(`${where}: RS256 needs an RSA key of at least ${MIN_RSA_BITS} bits`);
  }
}

function parseKey<T>(parse: () => T, where: string): T {
  try {
    return parse();
  } catch (err) {
    throw new Error(`${where}: not a usable key (${(err as Error).message})`);
  }
}

/** The generated key's PEM, created first if this is the first start. */
function readOrCreateGeneratedPem(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const pem = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" });
  try {
    // wx: never overwrite — of two processes starting at the same moment, both end up with the first one's key.
    writeFileSync(path, pem, { mode: 0o600, flag: "wx" });
    return Buffer.from(pem);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return readFileSync(path);
  }
}

interface LoadedKey {
  verify: JwsKey;
  sign: JwsKey | null;
  /** Public key for the JWKS; null for HS256. */
  publicKey: KeyObject | null;
}

function loadConfiguredKey(cfg: ConfiguredKey, where: string): LoadedKey {
  if (cfg.alg === "HS256") {
    if (cfg.secret === undefined || cfg.publicKey !== undefined || cfg.privateKey !== undefined) {
      throw new Error(`${where}: HS256 takes a secret and no PEM key`);
    }
    const key = createSecretKey(Buffer.from(cfg.secret, "utf8"));
    const jwsKey = { kid: cfg.kid, alg: cfg.alg, key };
    return { verify: jwsKey, sign: jwsKey, publicKey: null };
  }
  if (cfg.secret !== undefined) throw new Error(`${where}.secret: only HS256 keys take a secret`);
  const privateKey = cfg.privateKey === undefined ? null : parseKey(() => createPrivateKey(cfg.privateKey!), `${where}.privateKey`);
  const publicKey = cfg.publicKey === undefined ? null : parseKey(() => createPublicKey(cfg.publicKey!), `${where}.publicKey`);
  const derived = privateKey && createPublicKey(privateKey);
  if (derived && publicKey && jwkThumbprint(derived) !== jwkThumbprint(publicKey)) {
    throw new Error(`${where}: publicKey and privateKey are not a pair`);
  }
  const verifyKey = derived ?? publicKey;
  if (verifyKey === null) throw new Error(`${where}: needs publicKey or privateKey`);
  checkKeyFitsAlg(verifyKey, cfg.alg, where);
  return {
    verify: { kid: cfg.kid, alg: cfg.alg, key: verifyKey },
    sign: privateKey && { kid: cfg.kid, alg: cfg.alg, key: privateKey },
    publicKey: verifyKey,
  };
}

function toPublicJwk(key: KeyObject, kid: string, alg: JwsAlg): PublicJwk {
  // Only the defining public members: nothing private can slip through, whatever the KeyObject holds.
  return { ...publicMembers(key.export({ format: "jwk" })), kid, alg, use: "sig" };
}

function makeKeySet(signing: JwsKey | null, loaded: readonly LoadedKey[]): KeySet {
  const verification = new Map(loaded.map((k) => [k.verify.kid, k.verify] as const));
  const published = loaded.flatMap((k) => (k.publicKey ? [toPublicJwk(k.publicKey, k.verify.kid, k.verify.alg)] : []));
  return {
    signing,
    verification,
    jwks: () => ({ keys: published.map((jwk) => ({ ...jwk })) }),
  };
}

/**
 * The edge's keys: the generated Ed25519 key (`dataDir/splay-signing-key.pem`, kid = its RFC 7638
 * thumbprint) and `auth.keys`. New tokens are signed with the last configured key that can sign,
 * else the generated one; old tokens keep verifying by kid. Throws, naming the config path, on a
 * duplicate kid or a key that does not fit its algorithm.
 */
export function loadKeySet(dataDir: string, configured: readonly ConfiguredKey[]): KeySet {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, GENERATED_KEY_FILE);
  const pem = readOrCreateGeneratedPem(path);
  const generatedPrivate = parseKey(() => createPrivateKey(pem), path);
  checkKeyFitsAlg(generatedPrivate, "EdDSA", path);
  const generatedPublic = createPublicKey(generatedPrivate);
  const generatedKid = jwkThumbprint(generatedPublic);
  const loaded: LoadedKey[] = [
    {
      verify: { kid: generatedKid, alg: "EdDSA", key: generatedPublic },
      sign: { kid: generatedKid, alg: "EdDSA", key: generatedPrivate },
      publicKey: generatedPublic,
    },
  ];
  const seen = new Map([[generatedKid, "the generated key"]]);
  configured.forEach((cfg, i) => {
    const where = `auth.keys[${i}]`;
    const owner = seen.get(cfg.kid);
    if (owner !== undefined) throw new Error(`${where}.kid "${cfg.kid}" is already used by ${owner}`);
    seen.set(cfg.kid, where);
    loaded.push(loadConfiguredKey(cfg, where));
  });
  const signing = loaded.filter((k) => k.sign !== null).at(-1)!.sign;
  return makeKeySet(signing, loaded);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const ASYMMETRIC_ALGS: readonly string[] = ["EdDSA", "ES256", "RS256"];

/**
 * A verification-only key set from a JWKS another edge published. Keys without a `kid`, without
 * an `alg` we verify, or not meant for signatures are skipped (RFC 7517 §5: ignore what you do not
 * support); the algorithm is the JWK's declared one, checked against its key type. Throws on a
 * document that is not a JWKS or repeats a kid.
 */
export function keySetFromJwks(jwks: unknown): KeySet {
  if (!isObject(jwks) || !Array.isArray(jwks.keys)) throw new Error("not a JWKS: expected { keys: [...] }");
  const loaded: LoadedKey[] = [];
  for (const [i, jwk] of jwks.keys.entries()) {
    if (!isObject(jwk) || typeof jwk.kid !== "string" || !ASYMMETRIC_ALGS.includes(jwk.alg as string)) continue;
    if (jwk.use !== undefined && jwk.use !== "sig") continue;
    const alg = jwk.alg as Exclude<JwsAlg, "HS256">;
    const where = `jwks.keys[${i}]`;
    if (loaded.some((k) => k.verify.kid === jwk.kid)) throw new Error(`${where}: kid "${jwk.kid}" appears twice`);
    const key = parseKey(() => createPublicKey({ key: publicMembers(jwk as JsonWebKey), format: "jwk" }), where);
    checkKeyFitsAlg(key, alg, where);
    loaded.push({ verify: { kid: jwk.kid, alg, key }, sign: null, publicKey: key });
  }
  return makeKeySet(null, loaded);
}
