// Config loading (docs/architecture.md §1 src/config, §2): defaults → YAML file → env (EDGE_…), validated once,
// frozen. Every problem found is collected so a bad start-up names all offending keys at once.
import { readFileSync } from "node:fs";
import { KindGuard, type Static, type TObject, type TSchema } from "@sinclair/typebox";
import { Value, ValueErrorType, type ValueError } from "@sinclair/typebox/value";
import YAML from "yaml";
import { parseNetwork } from "../primitives/ip.js";
import { TlsPairError, loadCaFile, loadTlsPair } from "../tls/certificates.js";
import { ConfigSchema, type Config, type EdgeEntry } from "./schema.js";

export type ConfigIssue = { path: string; reason: string };

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.reason}`).join("\n"));
    this.name = "ConfigError";
  }
}

export type LoadOptions = { file?: string; env?: Record<string, string | undefined> };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function schemaAt(path: string[]): TSchema | undefined {
  let s: TSchema | undefined = ConfigSchema;
  for (const key of path) s = s && KindGuard.IsObject(s) ? s.properties[key] : undefined;
  return s;
}

/** Env name of a config key; an `env` annotation in the schema wins (e.g. EDGE_BINTU_APIKEY, §2). */
export function envName(path: string[]): string {
  const annotated: unknown = schemaAt(path)?.env;
  if (typeof annotated === "string") return annotated;
  return "EDGE_" + path.map((seg) => seg.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()).join("_");
}

type Leaf = { path: string[]; schema: TSchema; env: string };

function leaves(schema: TSchema, path: string[] = []): Leaf[] {
  if (!KindGuard.IsObject(schema)) return [{ path, schema, env: envName(path) }];
  return Object.entries(schema.properties).flatMap(([key, s]) => leaves(s, [...path, key]));
}

const LEAVES = leaves(ConfigSchema);
const squash = (name: string) => name.replaceAll("_", "");

/** Env values are strings; turn one into the leaf's type or explain why it cannot be. */
function parseEnv(schema: TSchema, raw: string): { value: unknown } | { reason: string } {
  if (KindGuard.IsInteger(schema)) {
    return /^-?\d+$/.test(raw) ? { value: Number(raw) } : { reason: `expected an integer, got '${raw}'` };
  }
  if (KindGuard.IsNumber(schema)) {
    return /^-?\d+(\.\d+)?$/.test(raw) ? { value: Number(raw) } : { reason: `expected a number, got '${raw}'` };
  }
  if (KindGuard.IsBoolean(schema)) {
    if (raw === "true" || raw === "1") return { value: true };
    if (raw === "false" || raw === "0") return { value: false };
    return { reason: `expected true, false, 1 or 0, got '${raw}'` };
  }
  if (KindGuard.IsArray(schema) && KindGuard.IsObject(schema.items)) {
    // Lists of mappings (routing.edges, geo.overrides) come as JSON.
    try {
      return { value: JSON.parse(raw) as unknown };
    } catch {
      return { reason: "expected a JSON list" };
    }
  }
  if (KindGuard.IsArray(schema)) return { value: raw.trim() === "" ? [] : raw.split(",").map((s) => s.trim()) };
  // Strings and unions of string literals go through as-is; the schema check judges them.
  return { value: raw };
}

function readEnv(env: Record<string, string | undefined>, issues: ConfigIssue[]) {
  const out: { leaf: Leaf; value: unknown }[] = [];
  const known = new Map(LEAVES.map((l) => [l.env, l]));
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined || !name.startsWith("EDGE_")) continue;
    const leaf = known.get(name);
    if (!leaf) {
      // Typo protection: a misspelt variable would otherwise be ignored silently.
      const near = LEAVES.find((l) => squash(l.env) === squash(name));
      issues.push({ path: name, reason: `unknown variable${near ? ` (did you mean ${near.env}?)` : ""}` });
      continue;
    }
    const parsed = parseEnv(leaf.schema, raw);
    if ("reason" in parsed) issues.push({ path: leaf.path.join("."), reason: `${parsed.reason} (from ${name})` });
    else out.push({ leaf, value: parsed.value });
  }
  return out;
}

/** Sets a nested key, creating mappings; a non-mapping on the way is left for the schema check to report. */
function setPath(target: Obj, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (node[key] === undefined) node[key] = {};
    const next = node[key];
    if (!isObj(next)) return;
    node = next;
  }
  node[path[path.length - 1]] = value;
}

function readFile(file: string, issues: ConfigIssue[]): Obj | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    issues.push({ path: "(file)", reason: `cannot read ${file}: ${(err as Error).message}` });
    return undefined;
  }
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      issues.push({ path: "(file)", reason: `YAML syntax error at line ${line}, column ${col}: ${e.message}` });
    }
    return undefined;
  }
  const data: unknown = doc.toJS();
  // An empty or comment-only file means "no overrides".
  if (data === null || data === undefined) return {};
  if (!isObj(data)) {
    issues.push({ path: "(file)", reason: `top level must be a mapping of keys, got ${typeName(data)}` });
    return undefined;
  }
  return data;
}

const typeName = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "list" : isObj(v) ? "mapping" : typeof v);

const show = (v: unknown) => (typeof v === "string" ? `'${v}'` : typeof v === "number" ? String(v) : typeName(v));
// For type mismatches: the type, plus the value when it is a scalar (a quoted '1935' is a string).
const typed = (v: unknown) => (typeof v === "string" || typeof v === "number" ? `${typeof v} ${show(v)}` : typeName(v));

// Type mismatches share one wording; the noun is what a YAML author would call the type.
const EXPECTED: Partial<Record<ValueErrorType, string>> = {
  [ValueErrorType.Integer]: "integer",
  [ValueErrorType.Number]: "number",
  [ValueErrorType.String]: "string",
  [ValueErrorType.Boolean]: "boolean",
  [ValueErrorType.Object]: "mapping",
  [ValueErrorType.Array]: "list",
};

function reasonOf(e: ValueError): string {
  const s = e.schema;
  const expected = EXPECTED[e.type];
  if (expected) return `expected ${expected}, got ${typed(e.value)}`;
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return "unknown key";
    case ValueErrorType.IntegerMaximum:
      return `must be <= ${s.maximum}, got ${show(e.value)}`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be >= ${s.minimum}, got ${show(e.value)}`;
    case ValueErrorType.NumberMaximum:
      return `must be <= ${s.maximum}, got ${show(e.value)}`;
    case ValueErrorType.NumberExclusiveMinimum:
      return `must be > ${s.exclusiveMinimum}, got ${show(e.value)}`;
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? "must not be empty" : `must be at least ${s.minLength} characters`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${s.maxLength} characters, got ${String(e.value).length}`;
    case ValueErrorType.StringPattern:
      return `must match ${s.pattern}, got ${show(e.value)}`;
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${s.minItems} item(s)`;
    case ValueErrorType.ArrayMaxItems:
      return `must have at most ${s.maxItems} items`;
    case ValueErrorType.Union: {
      const options = (s.anyOf as TSchema[]).map((o) => (KindGuard.IsLiteral(o) ? String(o.const) : undefined));
      if (options.every((o) => o !== undefined)) return `must be one of ${options.join(", ")}, got ${show(e.value)}`;
      return e.message;
    }
    default:
      return e.message;
  }
}

/** JSON pointer (`/api/trustProxy/2`) → dotted key path (`api.trustProxy.2`). */
const dotted = (pointer: string) =>
  pointer
    .split("/")
    .slice(1)
    .map((seg) => seg.replaceAll("~1", "/").replaceAll("~0", "~"))
    .join(".");

/**
 * A CIDR the runtime will take, by the runtime's own parser (issue 11 §4): trusted proxies, geo
 * overrides and Guardian rules all parse with parseNetwork / networkInto, so check-config accepts
 * exactly what start-up accepts — a network with host bits (`10.1.2.3/8`) is a config error here,
 * not a start-up failure later. The canonical text (`::ffff:10.0.0.0/104` is `10.0.0.0/8`) is the
 * key that finds the same network written twice.
 */
function cidr(entry: string): { ok: true; key: string } | { ok: false; reason: string } {
  const r = parseNetwork(entry);
  return r.ok ? { ok: true, key: r.text } : { ok: false, reason: `'${entry}': ${r.reason}` };
}

/** What src/geo/overrides.ts compileOverrides would refuse at start-up, reported at its key path. */
function overrideIssues(overrides: Config["geo"]["overrides"]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  overrides.forEach((o, i) => {
    const at = `geo.overrides.${i}`;
    const net = cidr(o.cidr);
    if (!net.ok) issues.push({ path: `${at}.cidr`, reason: net.reason });
    else if (seen.has(net.key)) issues.push({ path: `${at}.cidr`, reason: `'${o.cidr}': the same network as geo.overrides.${seen.get(net.key)}.cidr` });
    else seen.set(net.key, i);
    if ((o.lat === undefined) !== (o.lon === undefined))
      issues.push({ path: `${at}.${o.lat === undefined ? "lat" : "lon"}`, reason: "lat and lon go together" });
  });
  return issues;
}

// A wildcard bind address overlaps every other address on the same port (EADDRINUSE on Linux).
const WILDCARD = new Set(["0.0.0.0", "::"]);
const sameHost = (a: string, b: string) => a === b || WILDCARD.has(a) || WILDCARD.has(b);

/**
 * Rules the schema cannot express. `c` is typed optimistically: each rule runs only if no schema
 * issue touches its inputs, so all problems are reported in one pass without reading a bad shape.
 */
function crossCheck(c: Config, issues: ConfigIssue[]): void {
  const schemaIssues = [...issues];
  const related = (a: string, b: string) => a === b || a.startsWith(b + ".") || b.startsWith(a + ".");
  const clean = (...paths: string[]) => paths.every((p) => !schemaIssues.some((i) => related(i.path, p)));

  if (clean("bintu.mode", "bintu.url", "bintu.apiKey") && c.bintu.mode === "remote") {
    if (c.bintu.url === "") issues.push({ path: "bintu.url", reason: "required when bintu.mode is remote" });
    else if (!URL.canParse(c.bintu.url) || !/^https?:$/.test(new URL(c.bintu.url).protocol)) {
      issues.push({ path: "bintu.url", reason: `must be an http(s) URL, got '${c.bintu.url}'` });
    }
    if (c.bintu.apiKey === "") issues.push({ path: "bintu.apiKey", reason: "required when bintu.mode is remote" });
  }
  if (clean("api.trustProxy")) {
    c.api.trustProxy.forEach((entry, i) => {
      const net = cidr(entry);
      if (!net.ok) issues.push({ path: `api.trustProxy.${i}`, reason: net.reason });
    });
  }
  if (clean("hooks.allowFrom")) {
    c.hooks.allowFrom.forEach((entry, i) => {
      const net = cidr(entry);
      if (!net.ok) issues.push({ path: `hooks.allowFrom.${i}`, reason: net.reason });
    });
  }
  if (clean("cluster") && c.cluster.redisUrl !== "") issues.push(...clusterIssues(c.cluster));
  if (clean("rtmp.limits.maxMessageSize", "rtmp.limits.maxBufferedBytes")) {
    const { maxMessageSize, maxBufferedBytes } = c.rtmp.limits;
    const reason = `must be <= rtmp.limits.maxBufferedBytes (${maxBufferedBytes}), got ${maxMessageSize}`;
    if (maxMessageSize > maxBufferedBytes) issues.push({ path: "rtmp.limits.maxMessageSize", reason });
  }
  if (clean("geo.overrides")) issues.push(...overrideIssues(c.geo.overrides));
  if (clean("routing.edges", "routing.edgesFile")) {
    if (c.routing.edgesFile !== "" && c.routing.edges.length > 0) {
      issues.push({ path: "routing.edges", reason: "set either routing.edges or routing.edgesFile, not both" });
    }
    issues.push(...edgeTableIssues(c.routing.edges, "routing.edges"));
  }
  const tlsOn = clean("tls") && tlsIssues(c.tls, issues);
  const tlsSet = clean("tls") && (c.tls.certFile !== "" || c.tls.keyFile !== "");
  if (clean("rtmp.plain") && !c.rtmp.plain && clean("tls") && !tlsSet) {
    issues.push({ path: "rtmp.plain", reason: "false needs tls.certFile and tls.keyFile (else no RTMP is served at all)" });
  }
  // The RTMPS port joins the clash check only when it is served.
  const ports = { rtmp: "rtmp.port", rtmps: "rtmp.tlsPort", playback: "playback.port", api: "api.port" } as const;
  const bound = (k: keyof typeof ports) => (k === "rtmps" ? c.rtmp.tlsPort : c[k].port);
  const hostOf = (k: keyof typeof ports) => (k === "rtmps" ? c.rtmp.host : c[k].host);
  const listeners = (["rtmp", "rtmps", "playback", "api"] as const).filter(
    (k) => clean(ports[k], `${k === "rtmps" ? "rtmp" : k}.host`) && (k !== "rtmps" || tlsOn),
  );
  listeners.forEach((k, i) => {
    const port = bound(k);
    const clash = listeners.slice(0, i).find((o) => port !== 0 && bound(o) === port && sameHost(hostOf(o), hostOf(k)));
    if (clash) issues.push({ path: ports[k], reason: `must differ from ${ports[clash]} on the same host (${port})` });
  });
}

/**
 * The TLS files (issue 15): both or neither of certFile / keyFile, and a pair start-up can serve
 * (readable, parsable, key matching, not expired) — the same loadTlsPair start-up runs. True when
 * TLS is configured and usable.
 */
function tlsIssues(t: Config["tls"], issues: ConfigIssue[]): boolean {
  if (t.caFile !== "") {
    try {
      loadCaFile(t.caFile);
    } catch (err) {
      issues.push({ path: "tls.caFile", reason: (err as Error).message });
    }
  }
  if (t.certFile === "" && t.keyFile === "") return false;
  if (t.certFile === "" || t.keyFile === "") {
    const missing = t.certFile === "" ? "tls.certFile" : "tls.keyFile";
    issues.push({ path: missing, reason: `required when ${missing === "tls.certFile" ? "tls.keyFile" : "tls.certFile"} is set` });
    return false;
  }
  try {
    loadTlsPair(t);
    return true;
  } catch (err) {
    if (!(err instanceof TlsPairError)) throw err;
    issues.push({ path: err.key, reason: err.message });
    return false;
  }
}

/** What the schema cannot say about an edge table: ids are unique (they are metric labels and sticky keys). */
export function edgeTableIssues(edges: readonly EdgeEntry[], prefix: string): ConfigIssue[] {
  const seen = new Map<string, number>();
  const issues: ConfigIssue[] = [];
  edges.forEach((e, i) => {
    const before = seen.get(e.id);
    if (before !== undefined) issues.push({ path: `${prefix}.${i}.id`, reason: `duplicate edge id '${e.id}' (also ${prefix}.${before})` });
    else seen.set(e.id, i);
  });
  return issues;
}

/**
 * Checks a value against one part of the schema (defaults filled in), in the wording config
 * errors use; for files that are read apart from the config (the routing table).
 */
export function checkPart<T extends TSchema>(schema: T, value: unknown, prefix: string): { value: Static<T>; issues: ConfigIssue[] } {
  const filled = Value.Default(schema, structuredClone(value)) as Static<T>;
  const issues = [...Value.Errors(schema, filled)].map((e) => ({ path: [prefix, dotted(e.path)].filter(Boolean).join("."), reason: reasonOf(e) }));
  return { value: filled, issues };
}

/**
 * Value.Default counts a list as a mapping and merges it into the default `{}` (`rtmp: [1]` would
 * pass as defaults plus an odd key `0`), so lists where mappings belong are reported and dropped first.
 */
function listsAsMappings(schema: TObject, value: Obj, path: string[], issues: ConfigIssue[]): void {
  for (const [key, s] of Object.entries(schema.properties)) {
    if (!KindGuard.IsObject(s)) continue;
    const child = value[key];
    if (Array.isArray(child)) {
      issues.push({ path: [...path, key].join("."), reason: "expected mapping, got list" });
      delete value[key];
    } else if (isObj(child)) listsAsMappings(s, child, [...path, key], issues);
  }
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}

export function loadConfig(opts: LoadOptions): Config {
  const issues: ConfigIssue[] = [];
  const file = opts.file === undefined ? {} : readFile(opts.file, issues);
  const env = readEnv(opts.env ?? {}, issues);
  // An unreadable file leaves nothing meaningful to validate; report it with any env problems.
  if (file === undefined) throw new ConfigError(issues);

  const merged = structuredClone(file);
  for (const { leaf, value } of env) setPath(merged, leaf.path, value);
  listsAsMappings(ConfigSchema, merged, [], issues);
  // Defaults after merging, so a partial `rtmp:` mapping from the file still gets its other keys.
  const config = Value.Default(ConfigSchema, merged) as Config;
  // Name the variable when an env value fails, since the file may set the same key.
  const fromEnv = new Map(env.map(({ leaf }) => [leaf.path.join("."), leaf.env]));
  for (const e of Value.Errors(ConfigSchema, config)) {
    const path = dotted(e.path);
    const source = fromEnv.get(path) ?? fromEnv.get(path.replace(/\.\d+$/, ""));
    issues.push({ path, reason: reasonOf(e) + (source ? ` (from ${source})` : "") });
  }
  crossCheck(config, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return deepFreeze(config);
}

export function formatConfigError(err: ConfigError, source: string): string {
  const lines = err.issues.map((i) => `  ${i.path}: ${i.reason}`);
  return [`bintu-edge: invalid configuration (${source}):`, ...lines].join("\n");
}

/** The fleet (issue 12): an edge id to be known by, a URL the client can use, a readable password file. */
function clusterIssues(c: Config["cluster"]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (c.edgeId === "") issues.push({ path: "cluster.edgeId", reason: "required when cluster.redisUrl is set (unique in the fleet)" });
  if (!URL.canParse(c.redisUrl)) issues.push({ path: "cluster.redisUrl", reason: "must be a redis:// or rediss:// URL" });
  if (c.passwordFile !== "") {
    try {
      readFileSync(c.passwordFile, "utf8");
    } catch (err) {
      issues.push({ path: "cluster.passwordFile", reason: `cannot read: ${(err as Error).message}` });
    }
  }
  return issues;
}
