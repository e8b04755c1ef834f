import t, { type Test } from "tap";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { ConfigError, envName, formatConfigError, loadConfig } from "../../src/config/load.js";
import { openGeo } from "../../src/geo/geo.js";
import { trustedProxies } from "../../src/primitives/client-ip.js";

/** Writes `text` as a YAML file in a fresh test dir and returns its path. */
function yamlFile(t: Test, text: string): string {
  const file = join(t.testdir(), "edge.yaml");
  writeFileSync(file, text);
  return file;
}

/** Loads and expects a ConfigError; returns its issues for the caller to inspect. */
function rejects(t: Test, opts: Parameters<typeof loadConfig>[0]): ConfigError {
  try {
    loadConfig(opts);
  } catch (err) {
    t.type(err, ConfigError);
    return err as ConfigError;
  }
  t.fail("expected a ConfigError");
  return new ConfigError([]);
}

/** Asserts one issue exists at `path` whose reason matches `reason`, and that the message names the path. */
function hasIssue(t: Test, err: ConfigError, path: string, reason: RegExp): void {
  const issue = err.issues.find((i) => i.path === path);
  t.ok(issue, `issue at ${path} in ${JSON.stringify(err.issues)}`);
  t.match(issue?.reason ?? "", reason);
  t.match(err.message, `${path}: `, "message names the key path");
}

t.test("defaults with no file and empty env", async (t) => {
  const c = loadConfig({ env: {} });
  t.equal(c.dataDir, "./data");
  t.equal(c.logLevel, "info");
  t.equal(c.rtmp.port, 1935);
  t.equal(c.playback.port, 8000);
  t.equal(c.api.port, 8080);
  t.equal(c.rtmp.limits.maxMessageSize, 4 * 1024 * 1024);
  t.equal(c.rtmp.limits.maxChunkStreams, 32);
  t.same(c.api.trustProxy, []);
  t.equal(c.bintu.mode, "embedded");
  t.equal(c.bintu.apiKey, "");
  t.same(c.ingest.apps, ["live", "rec"]);
  t.same(loadConfig({}), c, "env omitted = empty env");
});

t.test("file overrides defaults; partial mappings keep their other defaults", async (t) => {
  const file = yamlFile(t, "rtmp:\n  limits:\n    maxConnections: 10\nplayback:\n  port: 9000\nlogLevel: debug\n");
  const c = loadConfig({ file, env: {} });
  t.equal(c.rtmp.limits.maxConnections, 10);
  t.equal(c.rtmp.limits.maxConnectionsPerIp, 50);
  t.equal(c.rtmp.port, 1935);
  t.equal(c.playback.port, 9000);
  t.equal(c.logLevel, "debug");
});

t.test("an empty or comment-only file means no overrides", async (t) => {
  t.equal(loadConfig({ file: yamlFile(t, "# nothing yet\n") }).rtmp.port, 1935);
});

t.test("env overrides file overrides defaults", async (t) => {
  const file = yamlFile(t, "api:\n  port: 9001\n  bodyLimit: 2048\n");
  t.equal(loadConfig({ env: {} }).api.port, 8080, "default");
  t.equal(loadConfig({ file, env: {} }).api.port, 9001, "file");
  const c = loadConfig({ file, env: { EDGE_API_PORT: "9002" } });
  t.equal(c.api.port, 9002, "env");
  t.equal(c.api.bodyLimit, 2048, "file keys not in env are kept");
});

t.test("env names and value parsing", async (t) => {
  t.equal(envName(["dataDir"]), "EDGE_DATA_DIR");
  t.equal(envName(["rtmp", "limits", "maxMessageSize"]), "EDGE_RTMP_LIMITS_MAX_MESSAGE_SIZE");
  t.equal(envName(["bintu", "apiKey"]), "EDGE_BINTU_APIKEY", "schema annotation wins");
  const c = loadConfig({
    env: {
      EDGE_DATA_DIR: "/var/lib/edge",
      EDGE_BINTU_MODE: "remote",
      EDGE_BINTU_URL: "https://bintu.example.com",
      EDGE_BINTU_APIKEY: "org-key",
      EDGE_API_TRUST_PROXY: " 10.0.0.0/8 , ::1,192.168.1.7 ",
      EDGE_RTMP_LIMITS_MAX_MESSAGE_SIZE: "2048",
      EDGE_PLAYBACK_END_GRACE_MS: "0",
      PATH: "/usr/bin",
    },
  });
  t.equal(c.dataDir, "/var/lib/edge");
  t.equal(c.bintu.mode, "remote");
  t.equal(c.bintu.apiKey, "org-key");
  t.same(c.api.trustProxy, ["10.0.0.0/8", "::1", "192.168.1.7"]);
  t.equal(c.rtmp.limits.maxMessageSize, 2048);
  t.equal(c.playback.endGraceMs, 0);
  const file = yamlFile(t, "api:\n  trustProxy: [10.0.0.1]\n");
  t.same(loadConfig({ file, env: { EDGE_API_TRUST_PROXY: "" } }).api.trustProxy, [], "empty env = empty list");
});

t.test("the result is deep-frozen", async (t) => {
  const c = loadConfig({ env: {} });
  t.ok(Object.isFrozen(c));
  t.ok(Object.isFrozen(c.rtmp.limits));
  t.ok(Object.isFrozen(c.api.trustProxy));
  t.throws(() => {
    (c.rtmp as { port: number }).port = 1;
  });
});

t.test("rejections name the key path and the reason", async (t) => {
  t.test("YAML syntax error gives the line", async (t) => {
    const err = rejects(t, { file: yamlFile(t, "rtmp:\n  port: 1935\n  host: [a,\nplayback: {}\n") });
    hasIssue(t, err, "(file)", /YAML syntax error at line \d+/);
  });
  t.test("duplicate YAML keys", async (t) => {
    const err = rejects(t, { file: yamlFile(t, "dataDir: a\ndataDir: b\n") });
    hasIssue(t, err, "(file)", /line 2/);
  });
  t.test("missing file", async (t) => {
    const err = rejects(t, { file: join(t.testdir(), "nope.yaml") });
    hasIssue(t, err, "(file)", /cannot read/);
  });
  t.test("top level not a mapping", async (t) => {
    const err = rejects(t, { file: yamlFile(t, "- rtmp\n- api\n") });
    hasIssue(t, err, "(file)", /must be a mapping.*list/);
  });
  t.test("unknown keys at any depth", async (t) => {
    const err = rejects(t, { file: yamlFile(t, "rtmp:\n  limits:\n    maxMesageSize: 1\nextra: 1\n") });
    hasIssue(t, err, "rtmp.limits.maxMesageSize", /^unknown key$/);
    hasIssue(t, err, "extra", /^unknown key$/);
  });
  t.test("wrong type", async (t) => {
    const err = rejects(t, { file: yamlFile(t, "rtmp:\n  port: '1935'\napi: 5\n") });
    hasIssue(t, err, "rtmp.port", /^expected integer, got string '1935'$/);
    hasIssue(t, err, "api", /^expected mapping, got number 5$/);
  });
  t.test("a list where a mapping belongs", async (t) => {
    const err = rejects(t, { file: yamlFile(t, "rtmp:\n  limits: [1]\n") });
    hasIssue(t, err, "rtmp.limits", /^expected mapping, got list$/);
    t.equal(err.issues.length, 1, "the list's items are not reported as keys");
  });
  t.test("out of range", async (t) => {
    const err = rejects(t, { file: yamlFile(t, "rtmp:\n  port: 70000\n  limits:\n    maxChunkStreams: 1\n") });
    hasIssue(t, err, "rtmp.port", /^must be <= 65535, got 70000$/);
    hasIssue(t, err, "rtmp.limits.maxChunkStreams", /^must be >= 4, got 1$/);
  });
  t.test("value not in the enum", async (t) => {
    const err = rejects(t, { file: yamlFile(t, "bintu:\n  mode: cloud\n"), env: { EDGE_LOG_LEVEL: "verbose" } });
    hasIssue(t, err, "bintu.mode", /^must be one of embedded, remote, got 'cloud'$/);
    hasIssue(t, err, "logLevel", /one of debug, info.*'verbose' \(from EDGE_LOG_LEVEL\)/);
  });
  t.test("bad env integer", async (t) => {
    const err = rejects(t, { env: { EDGE_RTMP_PORT: "abc", EDGE_API_PORT: "80.5" } });
    hasIssue(t, err, "rtmp.port", /^expected an integer, got 'abc' \(from EDGE_RTMP_PORT\)$/);
    hasIssue(t, err, "api.port", /got '80\.5'/);
  });
  t.test("env value out of range names the variable", async (t) => {
    const err = rejects(t, { env: { EDGE_PLAYBACK_PORT: "-1" } });
    hasIssue(t, err, "playback.port", /^must be >= 0, got -1 \(from EDGE_PLAYBACK_PORT\)$/);
  });
  t.test("unknown EDGE_ variable", async (t) => {
    const err = rejects(t, { env: { EDGE_RTMP_PROT: "1935", EDGE_BINTU_API_KEY: "k" } });
    hasIssue(t, err, "EDGE_RTMP_PROT", /unknown variable/);
    hasIssue(t, err, "EDGE_BINTU_API_KEY", /did you mean EDGE_BINTU_APIKEY/);
  });
  t.test("remote mode needs a url and an apiKey", async (t) => {
    const err = rejects(t, { env: { EDGE_BINTU_MODE: "remote" } });
    hasIssue(t, err, "bintu.url", /required when bintu.mode is remote/);
    hasIssue(t, err, "bintu.apiKey", /required when bintu.mode is remote/);
    const bad = rejects(t, { env: { EDGE_BINTU_MODE: "remote", EDGE_BINTU_URL: "ftp://x", EDGE_BINTU_APIKEY: "k" } });
    hasIssue(t, bad, "bintu.url", /http\(s\) URL, got 'ftp:\/\/x'/);
    t.equal(bad.issues.length, 1);
  });
  t.test("trustProxy entries must be addresses or CIDRs", async (t) => {
    const file = yamlFile(t, "api:\n  trustProxy: [10.0.0.0/8, '10.0.0.0/33', 'fe80::/64', example.com, '::1/129']\n");
    const err = rejects(t, { file });
    hasIssue(t, err, "api.trustProxy.1", /10\.0\.0\.0\/33/);
    hasIssue(t, err, "api.trustProxy.3", /example\.com/);
    hasIssue(t, err, "api.trustProxy.4", /::1\/129/);
    t.equal(err.issues.length, 3);
  });
  // Issue 11 §4: the loader parses CIDRs with the runtime's parser (src/primitives/ip.ts), so a
  // network with host bits is refused here, at its key path, and never reaches start-up.
  t.test("trustProxy: a network with host bits is refused, naming the network meant", async (t) => {
    const file = yamlFile(t, "api:\n  trustProxy: [10.1.2.3/8, '2001:db8::1/32', '::ffff:10.0.0.0/104', 10.0.0.0/8]\n");
    const err = rejects(t, { file });
    t.same(err.issues, [
      { path: "api.trustProxy.0", reason: "'10.1.2.3/8': host bits set; the network is 10.0.0.0/8" },
      { path: "api.trustProxy.1", reason: "'2001:db8::1/32': host bits set; the network is 2001:db8::/32" },
    ]);
    const env = rejects(t, { env: { EDGE_API_TRUST_PROXY: "127.0.0.1, 192.168.1.7/16" } });
    t.same(env.issues, [{ path: "api.trustProxy.1", reason: "'192.168.1.7/16': host bits set; the network is 192.168.0.0/16" }]);
  });
  t.test("hooks.allowFrom: loopback by default, comma-separated in env, parsed like api.trustProxy (issue 14)", async (t) => {
    t.same(loadConfig({}).hooks.allowFrom, ["127.0.0.0/8", "::1/128"]);
    t.same(loadConfig({ env: { EDGE_HOOKS_ALLOW_FROM: " 10.0.0.0/8 , ::1" } }).hooks.allowFrom, ["10.0.0.0/8", "::1"]);
    const env = rejects(t, { env: { EDGE_HOOKS_ALLOW_FROM: "10.0.0.0/8, 10.1.2.3/8" } });
    t.same(env.issues, [{ path: "hooks.allowFrom.1", reason: "'10.1.2.3/8': host bits set; the network is 10.0.0.0/8" }]);
    const url = rejects(t, { env: { EDGE_HOOKS_NGINX_RTMP_CONTROL_URL: "https://nginx/control" } });
    t.equal(url.issues[0]?.path, "hooks.nginxRtmpControlUrl", "the control module speaks plain HTTP only");
  });
  t.test("geo.overrides: the cidr by the runtime's parser, repeats and half coordinates as start-up refuses them", async (t) => {
    const overrides = [
      { cidr: "10.1.2.3/8", region: "a" },
      { cidr: "192.168.0.0/16", region: "b" },
      { cidr: "::ffff:192.168.0.0/112", region: "c" },
      { cidr: "2001:db8::/32", lat: 1 },
      { cidr: "10.0.0.0/33", region: "d" },
    ];
    const err = rejects(t, { env: { EDGE_GEO_OVERRIDES: JSON.stringify(overrides) } });
    t.same(err.issues, [
      { path: "geo.overrides.0.cidr", reason: "'10.1.2.3/8': host bits set; the network is 10.0.0.0/8" },
      { path: "geo.overrides.2.cidr", reason: "'::ffff:192.168.0.0/112': the same network as geo.overrides.1.cidr" },
      { path: "geo.overrides.3.lon", reason: "lat and lon go together" },
      { path: "geo.overrides.4.cidr", reason: "'10.0.0.0/33': IPv4 prefix length must be 0-32" },
    ]);
    const ok = loadConfig({
      env: {
        EDGE_GEO_OVERRIDES: JSON.stringify([
          { cidr: "10.0.0.0/8", region: "a" },
          { cidr: "10.1.0.0/16", lat: 1, lon: 2 },
        ]),
      },
    });
    t.equal(ok.geo.overrides.length, 2, "nested networks are fine");
  });
  t.test("maxMessageSize must fit in maxBufferedBytes", async (t) => {
    const err = rejects(t, {
      env: { EDGE_RTMP_LIMITS_MAX_MESSAGE_SIZE: "1000000", EDGE_RTMP_LIMITS_MAX_BUFFERED_BYTES: "65536" },
    });
    hasIssue(t, err, "rtmp.limits.maxMessageSize", /<= rtmp.limits.maxBufferedBytes \(65536\), got 1000000/);
  });
  t.test("listener ports on the same host must differ", async (t) => {
    const err = rejects(t, { env: { EDGE_API_PORT: "1935" } });
    hasIssue(t, err, "api.port", /^must differ from rtmp.port on the same host \(1935\)$/);
    const wildcard = rejects(t, { env: { EDGE_PLAYBACK_PORT: "1935", EDGE_PLAYBACK_HOST: "127.0.0.1" } });
    hasIssue(t, wildcard, "playback.port", /rtmp.port/); // rtmp binds 0.0.0.0, which covers 127.0.0.1
    const c = loadConfig({ env: { EDGE_API_PORT: "1935", EDGE_API_HOST: "127.0.0.2", EDGE_RTMP_HOST: "127.0.0.1" } });
    t.equal(c.api.port, 1935, "different hosts may share a port");
    const zero = loadConfig({ env: { EDGE_RTMP_PORT: "0", EDGE_PLAYBACK_PORT: "0", EDGE_API_PORT: "0" } });
    t.equal(zero.api.port, 0, "port 0 (pick a free one) never clashes");
  });
  t.test("every problem is reported at once", async (t) => {
    const file = yamlFile(t, "rtmp:\n  port: 70000\nbintu:\n  mode: remote\n");
    const err = rejects(t, { file, env: { EDGE_NOPE: "1" } });
    t.same(err.issues.map((i) => i.path).sort(), ["EDGE_NOPE", "bintu.apiKey", "bintu.url", "rtmp.port"]);
    t.equal(err.message.split("\n").length, 4);
  });
});

t.test("formatConfigError", async (t) => {
  const err = new ConfigError([
    { path: "rtmp.port", reason: "must be <= 65535, got 70000" },
    { path: "EDGE_X", reason: "unknown variable" },
  ]);
  t.equal(
    formatConfigError(err, "edge.yaml"),
    "bintu-edge: invalid configuration (edge.yaml):\n" + "  rtmp.port: must be <= 65535, got 70000\n" + "  EDGE_X: unknown variable",
  );
});

t.test("property: valid ports set via env come back as numbers", async (t) => {
  const port = fc.integer({ min: 1, max: 65535 });
  fc.assert(
    fc.property(fc.uniqueArray(port, { minLength: 3, maxLength: 3 }), ([rtmp, playback, api]) => {
      const c = loadConfig({
        env: { EDGE_RTMP_PORT: String(rtmp), EDGE_PLAYBACK_PORT: String(playback), EDGE_API_PORT: String(api) },
      });
      return c.rtmp.port === rtmp && c.playback.port === playback && c.api.port === api;
    }),
  );
  t.pass("property held");
});

t.test("property: the loader accepts a CIDR list exactly when the runtime does (issue 11 §4)", async (t) => {
  // Mostly good networks (so repeats occur), some refused ones: host bits, bad prefixes, no address.
  const good = fc.constantFrom("10.0.0.0/8", "10.1.2.3", "::ffff:10.0.0.0/104", "2001:db8::/32", "0.0.0.0/0", "::/0", "192.168.1.0/24");
  const bad = fc.constantFrom(
    "10.1.2.3/8",
    "10.0.0.0/33",
    "::ffff:10.0.0.0/95",
    "2001:db8::1/32",
    "fe80::1%eth0",
    "1.2.3.4/08",
    "example.com",
    "192.168.1.7/24",
  );
  const text = fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: bad });
  const coords = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom({}, { lat: 1, lon: 2 }) },
    { weight: 1, arbitrary: fc.constantFrom({ lat: 1 }, { lon: 2 }) },
  );
  const entry = fc.tuple(text, coords).map(([cidr, c]) => ({ cidr, ...c }));
  const throws = (fn: () => unknown) => {
    try {
      fn();
      return false;
    } catch {
      return true;
    }
  };
  let runs = 0;
  let refused = 0;
  fc.assert(
    fc.property(fc.array(text, { maxLength: 4 }), fc.array(entry, { maxLength: 4 }), (proxies, list) => {
      runs++;
      const overrides = list;
      const env = { EDGE_API_TRUST_PROXY: proxies.join(","), EDGE_GEO_OVERRIDES: JSON.stringify(overrides) };
      const loaderRefuses = throws(() => loadConfig({ env }));
      const runtimeRefuses = throws(() => trustedProxies(proxies)) || throws(() => openGeo({ mmdbPath: "", overrides, watch: false }).close());
      if (loaderRefuses) refused++;
      return loaderRefuses === runtimeRefuses;
    }),
    { seed: 11, numRuns: 1000 },
  );
  t.equal(runs, 1000);
  t.ok(refused > 200 && refused < 800, `both answers are exercised (${refused} of 1000 refused)`);
});
