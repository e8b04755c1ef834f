// Bench for issue 6: playback-token verifications per CPU second of the edge's node:crypto verifier
// (src/auth: JWS + splay claims) next to fast-jwt and jose in the same run, for EdDSA, ES256 and
// HS256 (and RS256), then the cached path (PlaybackTokens.verify on a token it has seen) next to
// fast-jwt's own verified-token cache. Every verifier checks the same things: signature with an
// explicit algorithm, aud = "splay", iss, exp/nbf, exp and jti present.
//
// env: TOKENS_MS (1000) measuring time per cell and round, TOKENS_ROUNDS (3) rounds alternating
//      between the verifiers (the median round is reported), TOKENS_ALGS ("EdDSA ES256 HS256 RS256"),
//      QUIET_PCT (25) / QUIET_MAX_S (30): before each round wait up to QUIET_MAX_S for the machine
//      to be below QUIET_PCT % of one core.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createVerifier, type VerifierOptions } from "fast-jwt";
import { importSPKI, jwtVerify } from "jose";
import { loadKeySet, type ConfiguredKey } from "../src/auth/keys.js";
import { PlaybackTokens } from "../src/auth/playback-tokens.js";
import { RevocationStore } from "../src/auth/revocations.js";
import { verifySplay, type VerifyContext } from "../src/auth/splay.js";
import { waitQuiet } from "./lib/proc.js";
import { envList, envNumber, ratio, table } from "./lib/stats.js";

type Alg = ConfiguredKey["alg"];
type FastJwtOptions = Partial<VerifierOptions> & { key: string };

const MS = envNumber("TOKENS_MS", 1000);
const ROUNDS = Math.max(1, envNumber("TOKENS_ROUNDS", 3));
const ALGS = envList("TOKENS_ALGS", "EdDSA ES256 HS256 RS256") as Alg[];
const QUIET_PCT = envNumber("QUIET_PCT", 25);
const QUIET_MAX_S = envNumber("QUIET_MAX_S", 30);
const ISSUER = "bintu-edge";
const AUTH = { issuer: ISSUER, acceptIssuers: [], leewaySeconds: 30, maxTokenLength: 4096 };
const SECRET = "bench-shared-secret-of-at-least-32-bytes";

/**
 * Calls per CPU second of this process (process.cpuUsage: user + system, all its threads, GC
 * included) over MS ms of wall time. Per CPU second rather than per wall second, because the
 * machine is shared: other load slows a cell down but barely changes its figure.
 */
function perCpuSecond(calls: number, since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return calls / ((used.user + used.system) / 1e6);
}

function rate(fn: () => unknown): number {
  let n = 0;
  const cpu = process.cpuUsage();
  const end = performance.now() + MS;
  while (performance.now() < end) {
    for (let i = 0; i < 256; i++) fn();
    n += 256;
  }
  return perCpuSecond(n, cpu);
}

/** The same for an async verifier, awaited one call at a time (its cost per verification). */
async function rateAsync(fn: () => Promise<unknown>): Promise<number> {
  let n = 0;
  const cpu = process.cpuUsage();
  const end = performance.now() + MS;
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) await fn();
    n += 64;
  }
  return perCpuSecond(n, cpu);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const perSec = (v: number) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : `${(v / 1e3).toFixed(1)}k`);

/** Before each round: wait (bounded) for the machine to be quiet, as the other benches do. */
async function quiet(): Promise<void> {
  const { busy, quiet } = await waitQuiet(QUIET_PCT, QUIET_MAX_S);
  if (!quiet) process.stderr.write(`  machine still ${busy.toFixed(0)}% busy after ${QUIET_MAX_S} s; measuring anyway\n`);
}

function keyPair(alg: Alg): { configured: ConfiguredKey; publicPem: string } {
  if (alg === "HS256") return { configured: { kid: alg, alg, secret: SECRET }, publicPem: "" };
  const { publicKey, privateKey } =
    alg === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "prime256v1" })
      : alg === "RS256"
        ? generateKeyPairSync("rsa", { modulusLength: 2048 })
        : generateKeyPairSync("ed25519");
  return {
    configured: { kid: alg, alg, privateKey: privateKey.export({ format: "pem", type: "pkcs8" }) as string },
    publicPem: publicKey.export({ format: "pem", type: "spki" }) as string,
  };
}

interface Row {
  alg: Alg;
  ours: number[];
  fastJwt: number[];
  jose: number[];
  /** Kept for the cached-path measurement. */
  service: PlaybackTokens;
  token: string;
  fastOpts: FastJwtOptions;
}

async function measureUncached(alg: Alg, dir: string, revocations: RevocationStore, nowSec: number): Promise<Row> {
  const pair = keyPair(alg);
  const keys = loadKeySet(dir, [pair.configured]);
  const service = new PlaybackTokens({ keys, revocations, auth: AUTH });
  const issued = service.issue({ streams: ["OrgAB-stream1"], exp: nowSec + 3600 }, { org: "OrgAB", nowSec });
  if (!issued.ok) throw new Error(issued.parameter);
  const token = issued.token;
  const ctx: VerifyContext = {
    keys: keys.verification,
    nowSec,
    leewaySec: 30,
    maxLength: 4096,
    issuers: new Set([ISSUER]),
    isRevoked: (jti) => revocations.has(jti),
  };
  const fastOpts: FastJwtOptions = {
    key: alg === "HS256" ? SECRET : pair.publicPem,
    algorithms: [alg],
    allowedAud: "splay",
    allowedIss: ISSUER,
    requiredClaims: ["exp", "jti"],
  };
  const fast = createVerifier(fastOpts);
  const joseKey = alg === "HS256" ? new TextEncoder().encode(SECRET) : await importSPKI(pair.publicPem, alg);
  const joseOpts = { algorithms: [alg], audience: "splay", issuer: ISSUER, requiredClaims: ["exp", "jti"] };
  // Every verifier must accept the token before it is timed (fast-jwt and jose throw otherwise).
  if (!verifySplay(token, ctx).ok) throw new Error(`${alg}: the edge refused its own token`);
  fast(token);
  await jwtVerify(token, joseKey, joseOpts);
  const row: Row = { alg, ours: [], fastJwt: [], jose: [], service, token, fastOpts };
  for (let r = 0; r < ROUNDS; r++) {
    await quiet();
    row.ours.push(rate(() => verifySplay(token, ctx)));
    row.fastJwt.push(rate(() => fast(token)));
    row.jose.push(await rateAsync(() => jwtVerify(token, joseKey, joseOpts)));
  }
  process.stderr.write(`  ${alg} done\n`);
  return row;
}

/**
 * The cached path: a token seen before (a reconnecting player, many players sharing one). "Same
 * string" is one string object, whose hash V8 keeps; "new string" builds the string from bytes on
 * every call, as a request parser does, so the exact-string key is hashed anew. The floor row is
 * that string building plus one Map lookup: what any cache keyed by the exact token pays.
 */
async function measureCached({ alg, service, token, fastOpts }: Row, nowSec: number): Promise<string> {
  const fastCached = createVerifier({ ...fastOpts, cache: true });
  const bytes = Buffer.from(token, "latin1");
  const floorMap = new Map([[token, true]]);
  const runs = { same: [] as number[], fresh: [] as number[], fastSame: [] as number[], fastFresh: [] as number[], floor: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    await quiet();
    runs.same.push(rate(() => service.verify(token, nowSec)));
    runs.fastSame.push(rate(() => fastCached(token)));
    runs.fresh.push(rate(() => service.verify(bytes.toString("latin1"), nowSec)));
    runs.fastFresh.push(rate(() => fastCached(bytes.toString("latin1"))));
    runs.floor.push(rate(() => floorMap.get(bytes.toString("latin1"))));
  }
  const [same, fastSame, fresh, fastFresh, floor] = [runs.same, runs.fastSame, runs.fresh, runs.fastFresh, runs.floor].map(median);
  return table(
    [`cached, per CPU-s (${alg})`, "edge PlaybackTokens", "fast-jwt cache:true", "edge / fast-jwt"],
    [
      ["same token string", perSec(same), perSec(fastSame), ratio(same, fastSame)],
      ["new string per call", perSec(fresh), perSec(fastFresh), ratio(fresh, fastFresh)],
      ["floor: new string + Map.get", perSec(floor), "–", `edge = ${ratio(fresh, floor)} floor`],
    ],
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-tokens-"));
  const revocations = RevocationStore.open(dir);
  const nowSec = Math.floor(Date.now() / 1000);
  const rows: Row[] = [];
  try {
    process.stdout.write(`node ${process.version}, ${cpus()[0]?.model ?? "cpu"} ×${cpus().length}; ${MS} ms per cell, median of ${ROUNDS} rounds\n\n`);
    for (const alg of ALGS) rows.push(await measureUncached(alg, dir, revocations, nowSec));
    const cells = rows.map((r) => {
      const [o, f, j] = [median(r.ours), median(r.fastJwt), median(r.jose)];
      return [r.alg, perSec(o), perSec(f), perSec(j), ratio(o, f), ratio(o, j)];
    });
    const head = ["verify per CPU-s", "edge node:crypto", "fast-jwt", "jose (await)", "edge / fast-jwt", "edge / jose"];
    process.stdout.write(table(head, cells) + "\n\n");
    // EdDSA, as nanoStream signs (a cache hit does not depend on the algorithm).
    process.stdout.write((await measureCached(rows.find((r) => r.alg === "EdDSA") ?? rows[0], nowSec)) + "\n");
  } finally {
    for (const r of rows) r.service.close();
    revocations.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
