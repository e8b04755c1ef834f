// The fleet's change log in Redis (issue 12, docs/architecture.md §3): one counter, one stream and
// one hash, written only by the Lua scripts below, so a change, its sequence number and the
// snapshot it leaves behind are one atomic step. Every edge's replica (src/cluster/replica.ts)
// tails the stream and falls back to the snapshot when the stream cannot bridge a gap.
//
// Keys (P = cluster.keyPrefix):
//   P epoch  random id of this log's history; a different one means "another Redis": reload
//   P mark   random id of the last seed; a new one under the same epoch means "Redis came back empty"
//   P seq    the last sequence number given out
//   P log    stream, entry id `<seq>-1`, fields c = {"k": record key, "v": record | null}, t = commit ms
//   P state  hash, record key → {"seq": n, "v": record}: the snapshot, kept current by `change`
import { createHash } from "node:crypto";
import type { RedisLink } from "./redis.js";

/** `change` refused: the log is not the one the replica follows (Redis replaced or reseeded). */
export class EpochError extends Error {
  override name = "EpochError";
}

export interface StateRecord {
  readonly seq: number;
  readonly value: unknown;
}

export interface Snapshot {
  readonly epoch: string | null;
  readonly mark: string | null;
  readonly seq: number;
  readonly records: Map<string, StateRecord>;
}

export interface LogEntry {
  readonly seq: number;
  readonly key: string;
  /** null = the record was deleted. */
  readonly value: unknown;
  /** Commit time (ms since the epoch, the posting edge's clock). */
  readonly t: number;
}

const CHANGE = `
local e = redis.call('GET', KEYS[1])
if e ~= ARGV[1] then return redis.error_reply('EPOCH ' .. tostring(e)) end
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[7]) then return redis.error_reply('LATE') end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], seq .. '-1', 'c', ARGV[3], 't', ARGV[5])
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[4], ARGV[2])
else
  redis.call('HSET', KEYS[4], ARGV[2], '{"seq":' .. seq .. ',"v":' .. ARGV[4] .. '}')
end
return seq
`;

// A delete that runs only while the record is still the version the caller saw (its seq): several
// edges may prune the same expired record, or an edge may prune while another re-adds it; only the
// first delete of that version lands (one log entry), the others change nothing and return 0.
const PRUNE = `
local e = redis.call('GET', KEYS[1])
if e ~= ARGV[1] then return redis.error_reply('EPOCH ' .. tostring(e)) end
local cur = redis.call('HGET', KEYS[4], ARGV[2])
if not cur or cjson.decode(cur).seq ~= tonumber(ARGV[6]) then return 0 end
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[7]) then return redis.error_reply('LATE') end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], seq .. '-1', 'c', ARGV[3], 't', ARGV[4])
redis.call('HDEL', KEYS[4], ARGV[2])
return seq
`;

const SNAPSHOT = `
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[4]), redis.call('GET', KEYS[2]) or '0', redis.call('HGETALL', KEYS[3])}
`;

// Seeds an empty Redis from a replica. The epoch is the replica's old one so edges that follow it
// continue; the new mark tells them Redis lost what they may have seen past `seq`.
const SEED = `
if redis.call('GET', KEYS[1]) then return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[4])} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[4], ARGV[3])
for i = 4, #ARGV, 1000 do
  local last = math.min(i + 999, #ARGV)
  redis.call('HSET', KEYS[3], unpack(ARGV, i, last))
end
return {ARGV[1], ARGV[3]}
`;

const sha1 = (s: string) => createHash("sha1").update(s).digest("hex");

/** Entries kept in the stream (approximately); a replica further behind loads the snapshot. */
export const LOG_MAX_LEN = 10_000;

export class ChangeLog {
  readonly keys: { epoch: string; seq: string; log: string; state: string; mark: string };

  constructor(
    private readonly link: RedisLink,
    private readonly maxLen = LOG_MAX_LEN,
  ) {
    this.keys = { epoch: link.key("epoch"), seq: link.key("seq"), log: link.key("log"), state: link.key("state"), mark: link.key("mark") };
  }

  /** EVALSHA, loading the script once on NOSCRIPT (a fresh or restarted Redis has none). */
  private async script(source: string, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.link.cmd.evalSha(sha1(source), { keys, arguments: args });
    } catch (err) {
      if (!String((err as Error).message).startsWith("NOSCRIPT")) throw err;
      return this.link.cmd.eval(source, { keys, arguments: args });
    }
  }

  /**
   * Commits one change; resolves with its sequence number. Rejects with EpochError on another epoch.
   * `redisDeadlineMs` (Redis's clock) is when the change is too late: a command sent to a frozen Redis
   * runs when it thaws, after the caller was told "unavailable" — the script refuses it then, so a
   * refused write never lands.
   */
  async change(expectedEpoch: string, key: string, value: unknown, nowMs: number, redisDeadlineMs: number): Promise<number> {
    const { epoch, seq, log, state } = this.keys;
    const record = value === null ? "" : JSON.stringify(value);
    const c = JSON.stringify({ k: key, v: value });
    const args = [expectedEpoch, key, c, record, String(nowMs), String(this.maxLen), String(Math.floor(redisDeadlineMs))];
    try {
      return Number(await this.script(CHANGE, [epoch, seq, log, state], args));
    } catch (err) {
      if (String((err as Error).message).startsWith("EPOCH")) throw new EpochError((err as Error).message);
      throw err;
    }
  }

  /**
   * Deletes one record if Redis still holds the version `recordSeq`; resolves with the delete's
   * sequence number, or 0 when the record is gone or was changed since (nothing written).
   */
  async prune(expectedEpoch: string, key: string, recordSeq: number, nowMs: number, redisDeadlineMs: number): Promise<number> {
    const { epoch, seq, log, state } = this.keys;
    const c = JSON.stringify({ k: key, v: null });
    const args = [expectedEpoch, key, c, String(nowMs), String(this.maxLen), String(recordSeq), String(Math.floor(redisDeadlineMs))];
    try {
      return Number(await this.script(PRUNE, [epoch, seq, log, state], args));
    } catch (err) {
      if (String((err as Error).message).startsWith("EPOCH")) throw new EpochError((err as Error).message);
      throw err;
    }
  }

  /** Epoch, mark, seq and every record, in one atomic read. */
  async snapshot(): Promise<Snapshot> {
    const { epoch, seq, state, mark } = this.keys;
    const [e, m, s, flat] = (await this.script(SNAPSHOT, [epoch, seq, state, mark], [])) as [string | null, string | null, string, string[]];
    const records = new Map<string, StateRecord>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const { seq: recordSeq, v } = JSON.parse(flat[i + 1]) as { seq: number; v: unknown };
      records.set(flat[i], { seq: recordSeq, value: v });
    }
    return { epoch: e, mark: m, seq: Number(s), records };
  }

  /** Redis's clock minus ours (ms), give or take half a round trip. */
  async clockOffset(): Promise<number> {
    const before = Date.now();
    const [sec, usec] = await this.link.cmd.time();
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000) - (before + Date.now()) / 2;
  }

  /** The current epoch and mark (null when Redis is empty). */
  async head(): Promise<{ epoch: string | null; mark: string | null; seq: number }> {
    const [epoch, mark, seq] = await this.link.cmd.mGet([this.keys.epoch, this.keys.mark, this.keys.seq]);
    return { epoch: epoch ?? null, mark: mark ?? null, seq: Number(seq ?? 0) };
  }

  /**
   * Fills an empty Redis from a replica (epoch, seq and records as the replica has them) under a new
   * mark; when Redis has an epoch already, changes nothing. Resolves with what Redis has now.
   */
  async seed(epoch: string, seq: number, mark: string, records: ReadonlyMap<string, StateRecord>): Promise<{ epoch: string; mark: string }> {
    const { epoch: ek, seq: sk, state, mark: mk } = this.keys;
    const args = [epoch, String(seq), mark];
    for (const [key, r] of records) args.push(key, JSON.stringify({ seq: r.seq, v: r.value }));
    const [e, m] = (await this.script(SEED, [ek, sk, state, mk], args)) as [string, string | null];
    return { epoch: e, mark: m ?? "" };
  }

  /**
   * Entries after `afterSeq`, waiting up to `blockMs` for one (XREAD BLOCK on the link's blocking
   * connection). The command carries a deadline of its own: a frozen Redis never answers it.
   */
  async read(afterSeq: number, blockMs: number, count: number, deadlineMs: number): Promise<LogEntry[]> {
    const client = this.link.blocking.withCommandOptions({ timeout: blockMs + deadlineMs, rejectInFlight: true });
    const reply = await client.sendCommand(["XREAD", "COUNT", String(count), "BLOCK", String(blockMs), "STREAMS", this.keys.log, `${afterSeq}-1`]);
    return parseXread(reply);
  }
}

/** XREAD's reply in RESP3 (a map) or RESP2 (pairs) → entries of the one stream asked for. */
export function parseXread(reply: unknown): LogEntry[] {
  if (reply === null || reply === undefined) return [];
  let streams: unknown[];
  if (reply instanceof Map) streams = [...reply.values()];
  else if (Array.isArray(reply)) streams = reply.map((pair) => (pair as unknown[])[1]);
  else streams = Object.values(reply as Record<string, unknown>);
  const out: LogEntry[] = [];
  for (const entries of streams) {
    for (const [id, fields] of entries as [string, string[]][]) {
      const f = new Map<string, string>();
      for (let i = 0; i + 1 < fields.length; i += 2) f.set(String(fields[i]), String(fields[i + 1]));
      const c = JSON.parse(f.get("c") ?? "{}") as { k: string; v: unknown };
      out.push({ seq: Number(String(id).split("-")[0]), key: c.k, value: c.v ?? null, t: Number(f.get("t") ?? 0) });
    }
  }
  return out;
}
