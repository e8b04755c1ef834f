// Key set (src/auth/keys.ts): the generated Ed25519 key (0600, reused, RFC 7638 kid), configured
// keys and their errors, "sign with the newest", and a JWKS with nothing private that another
// edge can verify with.
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { calculateJwkThumbprint } from "jose";
import { signJws, verifyJws } from "../../src/auth/jws.js";
import { GENERATED_KEY_FILE, jwkThumbprint, keySetFromJwks, loadKeySet, type ConfiguredKey } from "../../src/auth/keys.js";
import { CONFIGURED, EC, ED, HS_SECRET, MAX_LENGTH, RSA } from "./fixtures.js";

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k", "oth"];

t.test("first start generates an Ed25519 key, 0600, PKCS8; later starts reuse it", async (t) => {
  const dir = join(t.testdir(), "nested", "data");
  const first = loadKeySet(dir, []);
  const file = join(dir, GENERATED_KEY_FILE);
  t.equal(statSync(file).mode & 0o777, 0o600, "mode 0600");
  const pem = readFileSync(file, "utf8");
  t.match(pem, /^-----BEGIN PRIVATE KEY-----\n/, "PKCS8 PEM");
  t.equal(first.signing?.alg, "EdDSA");
  const second = loadKeySet(dir, []);
  t.equal(second.signing?.kid, first.signing?.kid, "same kid on the next start");
  t.equal(readFileSync(file, "utf8"), pem, "file unchanged");
  const token = signJws({}, { a: 1 }, first.signing!);
  t.ok(verifyJws(token, second.verification, MAX_LENGTH).ok, "tokens of the first start verify after a restart");
  t.not(loadKeySet(t.testdir() + "-other", []).signing?.kid, first.signing?.kid, "another data dir, another key");
});

t.test("kid is the RFC 7638 thumbprint", async (t) => {
  // RFC 7638 §3.1's example key and thumbprint.
  const n =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
  const rfcKey = createPublicKey({ key: { kty: "RSA", n, e: "AQAB" }, format: "jwk" });
  t.equal(jwkThumbprint(rfcKey), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "RFC 7638 §3.1 vector");
  for (const key of [ED.publicKey, EC.publicKey, RSA.publicKey]) {
    t.equal(jwkThumbprint(key), await calculateJwkThumbprint(key.export({ format: "jwk" }) as never), `${key.asymmetricKeyType}: same as jose's`);
  }
  const set = loadKeySet(t.testdir(), []);
  t.equal(set.signing!.kid, jwkThumbprint(createPublicKey(set.signing!.key)));
});

t.test("configured keys: verification by kid, the last one that can sign signs", async (t) => {
  const dir = t.testdir();
  const generatedKid = loadKeySet(dir, []).signing!.kid;
  const verifyOnly = loadKeySet(dir, [CONFIGURED.EdDSA, CONFIGURED.ES256, CONFIGURED.RS256]);
  t.equal(verifyOnly.signing!.kid, generatedKid, "no configured private key: the generated key signs");
  t.same([...verifyOnly.verification.keys()].sort(), [generatedKid, "ed", "ec", "rsa"].sort());
  const ecSigner: ConfiguredKey = { kid: "ec-new", alg: "ES256", privateKey: EC.privatePem, publicKey: EC.publicPem };
  const rsaSigner: ConfiguredKey = { kid: "rsa-new", alg: "RS256", privateKey: RSA.privatePem };
  t.equal(loadKeySet(dir, [CONFIGURED.HS256, ecSigner]).signing!.kid, "ec-new", "newest = last configured signing key");
  t.equal(loadKeySet(dir, [ecSigner, CONFIGURED.HS256, CONFIGURED.EdDSA]).signing!.kid, "hs", "an HS256 secret signs too");
  const set = loadKeySet(dir, [ecSigner, rsaSigner, CONFIGURED.EdDSA]);
  t.equal(set.signing!.kid, "rsa-new");
  for (const signer of [set.signing!, loadKeySet(dir, [ecSigner]).signing!, loadKeySet(dir, []).signing!]) {
    t.ok(verifyJws(signJws({}, { x: 1 }, signer), set.verification, MAX_LENGTH).ok, `${signer.kid} verifies after rotation`);
  }
});

t.test("configuration errors name the key's path", async (t) => {
  const dir = t.testdir();
  const load = (keys: ConfiguredKey[]) => () => loadKeySet(dir, keys);
  t.throws(load([CONFIGURED.EdDSA, { ...CONFIGURED.ES256, kid: "ed" }]), /auth\.keys\[1\]\.kid "ed" is already used by auth\.keys\[0\]/);
  const generatedKid = loadKeySet(dir, []).signing!.kid;
  t.throws(load([{ ...CONFIGURED.EdDSA, kid: generatedKid }]), /auth\.keys\[0\]\.kid .* already used by the generated key/);
  t.throws(load([{ kid: "x", alg: "ES256", publicKey: RSA.publicPem }]), /auth\.keys\[0\]: ES256 needs a key of type P-256, got rsa/);
  t.throws(load([{ kid: "x", alg: "EdDSA", publicKey: EC.publicPem }]), /auth\.keys\[0\]: EdDSA needs a key of type Ed25519, got ec prime256v1/);
  t.throws(load([{ kid: "x", alg: "RS256", publicKey: ED.publicPem }]), /auth\.keys\[0\]: RS256 needs a key of type RSA, got ed25519/);
  const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "pem", type: "spki" }) as string;
  t.throws(load([{ kid: "x", alg: "RS256", publicKey: small }]), /at least 2048 bits/);
  t.throws(load([{ kid: "x", alg: "HS256", secret: HS_SECRET, publicKey: ED.publicPem }]), /auth\.keys\[0\]: HS256 takes a secret and no PEM key/);
  t.throws(load([{ kid: "x", alg: "HS256" }]), /HS256 takes a secret/);
  t.throws(load([{ kid: "x", alg: "EdDSA", secret: HS_SECRET }]), /auth\.keys\[0\]\.secret: only HS256/);
  t.throws(load([{ kid: "x", alg: "EdDSA" }]), /auth\.keys\[0\]: needs publicKey or privateKey/);
  t.throws(load([{ kid: "x", alg: "EdDSA", publicKey: "not a pem" }]), /auth\.keys\[0\]\.publicKey: not a usable key/);
  t.throws(load([{ kid: "x", alg: "EdDSA", privateKey: ED.publicPem }]), /auth\.keys\[0\]\.privateKey: not a usable key/);
  const otherEd = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  t.throws(load([{ kid: "x", alg: "EdDSA", publicKey: ED.publicPem, privateKey: otherEd }]), /not a pair/);
  writeFileSync(join(dir, GENERATED_KEY_FILE), "garbage");
  t.throws(load([]), new RegExp(`${GENERATED_KEY_FILE}: not a usable key`), "a damaged key file is named, never replaced");
  t.equal(readFileSync(join(dir, GENERATED_KEY_FILE), "utf8"), "garbage");
});

t.test("JWKS: public keys only, with kid, alg and use", async (t) => {
  const ecSigner: ConfiguredKey = { kid: "ec-new", alg: "ES256", privateKey: EC.privatePem };
  const rsaSigner: ConfiguredKey = { kid: "rsa-new", alg: "RS256", privateKey: RSA.privatePem };
  const set = loadKeySet(t.testdir(), [CONFIGURED.HS256, ecSigner, rsaSigner, CONFIGURED.EdDSA]);
  const { keys } = set.jwks();
  t.same(
    keys.map((k) => k.kid),
    [set.verification.keys().next().value, "ec-new", "rsa-new", "ed"],
    "every asymmetric key, no HS256",
  );
  for (const jwk of keys) {
    t.same(
      PRIVATE_MEMBERS.filter((m) => m in jwk),
      [],
      `${jwk.kid}: no private member`,
    );
    t.equal(jwk.use, "sig");
    t.ok(["EdDSA", "ES256", "RS256"].includes(jwk.alg));
  }
  const text = JSON.stringify(set.jwks());
  t.notMatch(text, HS_SECRET, "the shared secret is nowhere");
  t.notMatch(text, Buffer.from(HS_SECRET).toString("base64url"));
  keys[0].kid = "mutated";
  t.not(set.jwks().keys[0].kid, "mutated", "callers get a copy");
});

t.test("a key set from the JWKS verifies the original's tokens and signs none", async (t) => {
  const ecSigner: ConfiguredKey = { kid: "ec-new", alg: "ES256", privateKey: EC.privatePem };
  const dir = t.testdir();
  const original = loadKeySet(dir, [CONFIGURED.HS256, ecSigner]);
  const fetched: unknown = JSON.parse(JSON.stringify(original.jwks()));
  const second = keySetFromJwks(fetched);
  t.equal(second.signing, null);
  t.ok(verifyJws(signJws({}, { a: 1 }, original.signing!), second.verification, MAX_LENGTH).ok, "ES256 token of the first edge");
  t.ok(verifyJws(signJws({}, { a: 1 }, loadKeySet(dir, []).signing!), second.verification, MAX_LENGTH).ok, "EdDSA (generated) token");
  const hsToken = signJws({}, { a: 1 }, loadKeySet(dir, [CONFIGURED.HS256]).signing!);
  t.notOk(verifyJws(hsToken, second.verification, MAX_LENGTH).ok, "HS256 tokens need the shared secret, which the JWKS never has");
  t.same(second.jwks(), original.jwks(), "republishes the same public keys");
});

t.test("keySetFromJwks skips what it cannot use and refuses what is not a JWKS", async (t) => {
  const ed = { ...(ED.publicKey.export({ format: "jwk" }) as object), kid: "ed", alg: "EdDSA" };
  const withPrivate = { ...(ED.privateKey.export({ format: "jwk" }) as object), kid: "edp", alg: "EdDSA" };
  const set = keySetFromJwks({
    keys: [
      ed,
      withPrivate,
      { kty: "oct", k: "c2VjcmV0", kid: "hs", alg: "HS256" },
      { ...ed, kid: "enc", use: "enc" },
      { ...ed, kid: "noalg", alg: undefined },
      { ...ed, alg: "EdDSA", kid: undefined },
      "junk",
    ],
  });
  t.same([...set.verification.keys()], ["ed", "edp"]);
  t.same(
    PRIVATE_MEMBERS.filter((m) => m in set.jwks().keys[1]),
    [],
    "a private member in the input never comes back out",
  );
  t.equal(set.verification.get("edp")!.key.type, "public", "built as a public key");
  t.throws(() => keySetFromJwks({ keys: [ed, ed] }), /kid "ed" appears twice/);
  t.throws(() => keySetFromJwks({ keys: [{ ...ed, alg: "ES256" }] }), /jwks\.keys\[0\]: ES256 needs a key of type P-256/);
  for (const bad of [null, [], { keys: {} }, "x"]) t.throws(() => keySetFromJwks(bad), /not a JWKS/);
});
