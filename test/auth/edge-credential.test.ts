// The edge credential of origin pull (issue 13 §2): signed by a fleet key, bound to one stream path,
// short-lived, and never interchangeable with a playback token.
import t from "tap";
import { EDGE_CREDENTIAL_TTL_SEC, issueEdgeCredential, verifyEdgeCredential } from "../../src/auth/edge-credential.js";
import { signJws } from "../../src/auth/jws.js";
import { ALGS, JWS_KEYS, NOW, VERIFY_KEYS } from "./fixtures.js";

const PATH = "/live/stream-1";

t.test("a credential verifies with every algorithm a fleet key may use, naming the edge", async (t) => {
  for (const alg of ALGS) {
    const credential = issueEdgeCredential(JWS_KEYS[alg].sign, "edge-b", PATH, NOW);
    t.same(verifyEdgeCredential(credential, VERIFY_KEYS, PATH, NOW + 1), { ok: true, edge: "edge-b" }, alg);
  }
});

t.test("forged, altered, expired, early, foreign and playback tokens are refused", async (t) => {
  const key = JWS_KEYS.EdDSA.sign;
  const credential = issueEdgeCredential(key, "edge-b", PATH, NOW);
  const refused = (token: string, path = PATH, now = NOW) => {
    const check = verifyEdgeCredential(token, VERIFY_KEYS, path, now);
    return check.ok ? null : check.code;
  };
  t.equal(refused("garbage"), "EDGE_ERR_TOKEN_INVALID", "not a JWS");
  const at = credential.length - 10; // inside the signature
  const altered = credential.slice(0, at) + (credential[at] === "A" ? "B" : "A") + credential.slice(at + 1);
  t.equal(refused(altered), "EDGE_ERR_TOKEN_INVALID", "signature altered");
  t.equal(refused(credential, PATH, NOW + EDGE_CREDENTIAL_TTL_SEC), "EDGE_ERR_TOKEN_EXPIRED", "expired at exp");
  t.equal(refused(credential, PATH, NOW - 31), "EDGE_ERR_TOKEN_EXPIRED", "issued in the future beyond the skew");
  t.equal(refused(credential, "/live/other"), "EDGE_ERR_TOKEN_SCOPE", "another stream");
  const splay = signJws({ typ: "JWT" }, { aud: "splay", edge: "edge-b", stream: PATH, iat: NOW, exp: NOW + 60 }, key);
  t.equal(refused(splay), "EDGE_ERR_TOKEN_INVALID", "a playback token's audience is not a credential");
  const longLived = signJws({ typ: "JWT" }, { aud: "bintu-edge-pull", edge: "edge-b", stream: PATH, iat: NOW, exp: NOW + 3600 }, key);
  t.equal(refused(longLived), "EDGE_ERR_TOKEN_EXPIRED", "a credential living longer than the TTL");
  t.equal(verifyEdgeCredential(credential, new Map(), PATH, NOW).ok, false, "a key the fleet does not know");
});
