// `bintu-edge token create` (src/cli-token.ts): prints a token the edge on the same data dir
// verifies; usage errors exit 2.
import t, { type Test } from "tap";
import { loadKeySet } from "../../src/auth/keys.js";
import { PlaybackTokens } from "../../src/auth/playback-tokens.js";
import { RevocationStore } from "../../src/auth/revocations.js";
import { StreamRegistry } from "../../src/bintu/registry/registry.js";
import { runTokenCommand } from "../../src/cli-token.js";
import type { Config } from "../../src/config/schema.js";
import { loadConfig } from "../../src/config/load.js";

function configFor(t: Test, env: Record<string, string> = {}): Config {
  return loadConfig({ env: { EDGE_DATA_DIR: t.testdir(), ...env } });
}

function run(argv: string[], config: Config) {
  let out = "";
  let err = "";
  const code = runTokenCommand(argv, config, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

/** Verifies as the edge on the same data dir would. */
function verifyAsEdge(t: Test, config: Config, token: string) {
  const revocations = RevocationStore.open(config.dataDir);
  const tokens = new PlaybackTokens({ keys: loadKeySet(config.dataDir, config.auth.keys), revocations, auth: config.auth });
  t.teardown(() => revocations.close());
  return tokens.verify(token, Math.floor(Date.now() / 1000));
}

t.test("create prints a token the edge verifies, with the asked-for claims", async (t) => {
  const config = configFor(t, { EDGE_BINTU_ORG_HASH: "OrgAB" });
  const before = Math.floor(Date.now() / 1000);
  const r = run(
    [
      "create",
      "--stream",
      "OrgAB-s1",
      "--stream",
      "OrgAB-s2",
      "--ttl",
      "2h",
      "--ip",
      "203.0.113.5",
      "--domain",
      "example.com",
      "--revocable",
      "--force-disconnect",
    ],
    config,
  );
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, "one token, one line");
  const verified = verifyAsEdge(t, config, r.out.trim());
  if (!verified.ok) throw new Error(verified.code);
  const c = verified.claims;
  t.same(
    [c.streams, c.sub, c.iss, c.ip, c.domain, c.revocable, c.forceDisconnect],
    [["OrgAB-s1", "OrgAB-s2"], "OrgAB", "bintu-edge", "203.0.113.5", "example.com", true, true],
  );
  t.ok(c.exp - before >= 7200 && c.exp - before <= 7202, "exp = now + 2h");
});

t.test("ttl units and the default", async (t) => {
  const config = configFor(t);
  for (const [ttl, seconds] of [
    ["90s", 90],
    ["15m", 900],
    [undefined, 3600],
    ["7d", 7 * 86_400],
  ] as const) {
    const r = run(["create", "--stream", "S", ...(ttl ? ["--ttl", ttl] : [])], config);
    t.equal(r.code, 0, r.err);
    const v = verifyAsEdge(t, config, r.out.trim());
    t.ok(v.ok && Math.abs(v.claims.exp - v.claims.iat - seconds) <= 1, `${ttl ?? "default"} = ${seconds} s`);
  }
});

t.test("sub is the organisation the registry keeps", async (t) => {
  const config = configFor(t);
  const r = run(["create", "--stream", "S"], config);
  const registry = StreamRegistry.open(config.dataDir, { orgHash: "" });
  const orgHash = registry.orgHash;
  registry.close();
  const v = verifyAsEdge(t, config, r.out.trim());
  t.ok(v.ok && v.claims.sub === orgHash, `sub = ${orgHash}`);
});

t.test("usage and configuration errors exit 2 and say why", async (t) => {
  const config = configFor(t);
  const cases: [string[], RegExp][] = [
    [[], /usage: bintu-edge token create/],
    [["frobnicate"], /usage/],
    [["create"], /--stream NAME is required/],
    [["create", "--stream", "S", "--ttl", "1w"], /--ttl 1w: expected a number with s, m, h or d/],
    [["create", "--stream", "S", "--ttl", "0h"], /--ttl 0h/],
    [["create", "--stream", "S", "--ttl", "h"], /--ttl h/],
    [["create", "--stream", "S", "--bogus"], /Unknown option '--bogus'/],
    [["create", "--stream", "S", "extra"], /positional/],
    [["create", "--stream", "S", "--revocable", "--ttl", "25h"], /at most 24 h ahead for a revocable token/],
    [["create", "--stream", "S", "--ttl", "366d"], /at most 365 days ahead/],
    [["create", "--stream", "S", "--ip", "::1"], /ip \(an IPv4 address\)/],
    [["create", "--stream", "S", "--domain", "https://x.com"], /domain/],
  ];
  for (const [argv, message] of cases) {
    const r = run(argv, config);
    t.equal(r.code, 2, argv.join(" ") || "(nothing)");
    t.match(r.err, message);
    t.equal(r.out, "", "nothing on stdout");
  }
  const badKeys = { ...config, auth: { ...config.auth, keys: [{ kid: "x", alg: "EdDSA" as const }] } };
  const r = run(["create", "--stream", "S"], badKeys);
  t.equal(r.code, 2);
  t.match(r.err, /auth\.keys\[0\]: needs publicKey or privateKey/);
});
