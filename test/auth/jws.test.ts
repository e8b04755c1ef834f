// JWS compact verify/sign (src/auth/jws.ts): every algorithm round-trips; any altered character or
// byte is refused without a throw; the algorithm is always the key's (RFC 7515, RFC 8725 §2.1).
import { createHmac, sign as cryptoSign } from "node:crypto";
import t from "tap";
import fc from "fast-check";
import { signJws, verifyJws, type JwsKey } from "../../src/auth/jws.js";
import { ALGS, ED, EC, JWS_KEYS, MAX_LENGTH, RSA, VERIFY_KEYS } from "./fixtures.js";

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const payload = { aud: "splay", jti: "x", exp: 1, streams: ["OrgAB-s1"] };
const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** A token with a hand-made header and payload, signed (or not) by `signWith`. */
function forge(header: unknown, body: unknown, signWith: (input: string) => Buffer | string): string {
  const input = `${b64(header)}.${b64(body)}`;
  const sig = signWith(input);
  return `${input}.${typeof sig === "string" ? sig : sig.toString("base64url")}`;
}
const verifyAll = (token: string) => verifyJws(token, VERIFY_KEYS, MAX_LENGTH);

t.test("every algorithm signs and verifies; the header names the key's alg and kid", async (t) => {
  for (const alg of ALGS) {
    const token = signJws({ typ: "JWT", alg: "none", kid: "other" }, payload, JWS_KEYS[alg].sign);
    const result = verifyAll(token);
    t.ok(result.ok, alg);
    if (result.ok) {
      t.same(result.header, { typ: "JWT", alg, kid: JWS_KEYS[alg].sign.kid }, `${alg}: alg and kid come from the key`);
      t.same(result.payload, payload);
    }
  }
  const es = signJws({}, payload, JWS_KEYS.ES256.sign).split(".")[2];
  t.equal(Buffer.from(es, "base64url").length, 64, "ES256 signature is raw r||s (RFC 7518 §3.4), not DER");
});

t.test("flipping any character or byte of a valid token refuses it, at every position, never throws", async (t) => {
  for (const alg of ALGS) {
    const token = signJws({ typ: "JWT" }, payload, JWS_KEYS[alg].sign);
    let refused = 0;
    for (let i = 0; i < token.length; i++) {
      // Every other base64url character (and '.', which changes the part count) in this position.
      for (const c of B64URL + ".") {
        if (c === token[i]) continue;
        const altered = token.slice(0, i) + c + token.slice(i + 1);
        if (!verifyAll(altered).ok) refused++;
        else t.fail(`${alg}: position ${i} '${token[i]}'→'${c}' still verifies`);
      }
    }
    t.equal(refused, token.length * B64URL.length, `${alg}: all ${refused} single-character changes refused`);
  }
});

t.test("property: any byte xor of a valid token is refused, never thrown (fixed seed)", async (t) => {
  const tokens = ALGS.map((alg) => signJws({}, payload, JWS_KEYS[alg].sign));
  fc.assert(
    fc.property(fc.nat(ALGS.length - 1), fc.nat(10_000), fc.integer({ min: 1, max: 255 }), (which, at, mask) => {
      const bytes = Buffer.from(tokens[which], "latin1");
      bytes[at % bytes.length] ^= mask;
      return verifyAll(bytes.toString("latin1")).ok === false;
    }),
    { seed: 6, numRuns: 5000 },
  );
  t.pass("5000 runs");
});

t.test("property: arbitrary strings and JWS-shaped garbage never throw and never verify (fixed seed)", async (t) => {
  const part = fc.stringMatching(/^[A-Za-z0-9_-]{0,120}$/);
  const shaped = fc.tuple(part, part, part).map((p) => p.join("."));
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 300 }), shaped), (s) => verifyAll(s).ok === false),
    { seed: 7, numRuns: 3000 },
  );
  for (const junk of [undefined, null, 42, {}, ["a.b.c"]])
    t.same(verifyJws(junk as never, VERIFY_KEYS, MAX_LENGTH), { ok: false }, JSON.stringify(junk) ?? "undefined");
});

t.test("the algorithm is never the token's", async (t) => {
  const ed = JWS_KEYS.EdDSA.verify;
  t.notOk(verifyAll(forge({ alg: "none", kid: ed.kid }, payload, () => "")).ok, "alg none, empty signature");
  t.notOk(verifyAll(forge({ alg: "none", kid: ed.kid }, payload, () => "AAAA")).ok, "alg none, some signature");
  t.notOk(verifyAll(forge({ alg: "none" }, payload, () => "")).ok, "alg none, no kid");
  // Alg confusion: HS256 with the public key's PEM (or its DER) as the HMAC secret (CVE-2023-48223 class).
  for (const [name, p] of [
    ["Ed25519", ED],
    ["P-256", EC],
    ["RSA", RSA],
  ] as const) {
    const kid = name === "Ed25519" ? "ed" : name === "P-256" ? "ec" : "rsa";
    const der = p.publicKey.export({ format: "der", type: "spki" });
    for (const secret of [p.publicPem, p.publicPem.trim(), der]) {
      const token = forge({ alg: "HS256", kid }, payload, (input) => createHmac("sha256", secret).update(input).digest());
      t.notOk(verifyAll(token).ok, `HS256 keyed with the ${name} public key is refused`);
    }
  }
  // A valid EdDSA signature under a header that says ES256 (or lower-case eddsa) for the same kid.
  for (const alg of ["ES256", "eddsa", "EdDSA ", ["EdDSA"], null]) {
    const token = forge({ alg, kid: "ed" }, payload, (input) => cryptoSign(null, Buffer.from(input), ED.privateKey));
    t.notOk(verifyAll(token).ok, `header alg ${JSON.stringify(alg)} on an EdDSA key`);
  }
  const good = forge({ alg: "EdDSA", kid: "ed" }, payload, (input) => cryptoSign(null, Buffer.from(input), ED.privateKey));
  t.ok(verifyAll(good).ok, "the same token with the right alg verifies (the forge helper is sound)");
  const der = forge({ alg: "ES256", kid: "ec" }, payload, (input) => cryptoSign("sha256", Buffer.from(input), EC.privateKey));
  t.notOk(verifyAll(der).ok, "ES256 with a DER signature is refused");
});

t.test("header rules: kid required and known, crit refused, object only", async (t) => {
  const edSign = (input: string) => cryptoSign(null, Buffer.from(input), ED.privateKey);
  t.notOk(verifyAll(forge({ alg: "EdDSA" }, payload, edSign)).ok, "missing kid");
  t.notOk(verifyAll(forge({ alg: "EdDSA", kid: "nope" }, payload, edSign)).ok, "unknown kid");
  t.notOk(verifyAll(forge({ alg: "EdDSA", kid: ["ed"] }, payload, edSign)).ok, "kid not a string");
  t.notOk(verifyAll(forge({ alg: "EdDSA", kid: "ed", crit: ["exp"] }, payload, edSign)).ok, "crit (RFC 7515 §4.1.11)");
  t.notOk(verifyAll(forge(["EdDSA"], payload, edSign)).ok, "header is an array");
  t.notOk(verifyAll(forge("not json", payload, edSign)).ok, "header not JSON");
  for (const body of [[1, 2], 42, "str", null]) t.notOk(verifyAll(forge({ alg: "EdDSA", kid: "ed" }, body, edSign)).ok, `payload ${JSON.stringify(body)}`);
  const latin1 = `${b64({ alg: "EdDSA", kid: "ed" })}.${Buffer.from([0x7b, 0xff, 0x7d]).toString("base64url")}`;
  t.notOk(verifyAll(`${latin1}.${edSign(latin1).toString("base64url")}`).ok, "payload that is not UTF-8");
});

t.test("strict base64url and shape", async (t) => {
  const token = signJws({}, payload, JWS_KEYS.EdDSA.sign);
  const [h, p, s] = token.split(".");
  t.ok(verifyAll(token).ok);
  t.notOk(verifyAll(`${h}.${p}.${s}==`).ok, "padding");
  t.notOk(verifyAll(`${h}.${p}.+${s.slice(1)}`).ok, "'+' of the base64 alphabet");
  t.notOk(verifyAll(`${h}.${p}./${s.slice(1)}`).ok, "'/' of the base64 alphabet");
  t.notOk(verifyAll(`${h}.${p}.${s} `).ok, "trailing space");
  t.notOk(verifyAll(`${h}.${p}`).ok, "two parts");
  t.notOk(verifyAll(`${h}.${p}.${s}.`).ok, "four parts");
  t.notOk(verifyAll(`${h}.${p}.`).ok, "empty signature");
  // 64 bytes = 86 characters: the last carries 4 unused bits; a non-zero value decodes to the same bytes.
  const last = B64URL.indexOf(s.at(-1)!);
  const sibling = B64URL[(last & ~0b1111) | ((last & 0b1111) ^ 1)];
  t.same(Buffer.from(s.slice(0, -1) + sibling, "base64url"), Buffer.from(s, "base64url"), "the sibling decodes to the same bytes");
  t.notOk(verifyAll(`${h}.${p}.${s.slice(0, -1)}${sibling}`).ok, "non-canonical last character refused");
});

t.test("length is refused before parsing", async (t) => {
  const token = signJws({}, { ...payload, pad: "x".repeat(10 * 1024) }, JWS_KEYS.EdDSA.sign);
  t.ok(token.length > 10 * 1024);
  t.notOk(verifyJws(token, VERIFY_KEYS, MAX_LENGTH).ok, "10 KiB token over the limit");
  t.ok(verifyJws(token, VERIFY_KEYS, token.length).ok, "the same token under a limit it fits");
  t.notOk(verifyJws(token, VERIFY_KEYS, token.length - 1).ok, "one character over");
  const keys = new Map<string, JwsKey>();
  t.notOk(verifyJws(signJws({}, payload, JWS_KEYS.EdDSA.sign), keys, MAX_LENGTH).ok, "an empty key set verifies nothing");
});
