// The fleet's Redis connections (issue 12 §1), and the only module that creates them. The rule
// of the fleet is that the media path never waits on Redis, so nothing here is allowed to hang a
// caller: no offline queue (a command while disconnected fails at once), a deadline on every
// command including those already sent (a frozen Redis — SIGSTOP — answers nothing, and TCP
// stays up), and a PING every second that decides whether Redis counts as up.
//
// Three connections, because two kinds of traffic would block the third: `cmd` for requests and
// scripts, `blocking` for XREAD BLOCK (a blocked connection runs nothing else), `sub` for pub/sub
// (a subscribed RESP2 connection runs nothing else).
import { readFileSync } from "node:fs";
import { createClient } from "redis";
import type { Logger } from "../log.js";

export type RedisClient = ReturnType<typeof createClient>;

export interface RedisOptions {
  url: string;
  /** A file with the password (last newline dropped); "" = the URL's, if any. */
  passwordFile: string;
  /** Prefix of every key of this fleet. */
  keyPrefix: string;
  /** Deadline of every command on `cmd`. */
  commandTimeoutMs: number;
  /** Shown in CLIENT LIST, so an operator can tell the edges' connections apart. */
  name: string;
  log: Logger;
  /** How often `cmd` is PINGed to decide whether Redis is up (default 1000 ms). */
  pingIntervalMs?: number;
}

/** Reconnect quickly (the fleet converges within 2 s of Redis coming back), with jitter against a herd. */
export function reconnectDelay(retries: number): number {
  return Math.min(50 * 2 ** retries, 500) + Math.floor(Math.random() * 100);
}

export class RedisLink {
  /** Requests and scripts: a deadline on every command, fails at once while disconnected. */
  readonly cmd: RedisClient;
  /** XREAD BLOCK only: its commands wait on the server by design, so they carry no deadline. */
  readonly blocking: RedisClient;
  /** SUBSCRIBE only. */
  readonly sub: RedisClient;
  readonly prefix: string;
  private upNow = false;
  private readonly listeners = new Set<(up: boolean) => void>();
  private readonly pinger: NodeJS.Timeout;
  private pinging = false;
  private closed = false;

  constructor(private readonly opts: RedisOptions) {
    this.prefix = opts.keyPrefix;
    const password = opts.passwordFile === "" ? undefined : readFileSync(opts.passwordFile, "utf8").replace(/\r?\n$/, "");
    const base = {
      url: opts.url,
      ...(password === undefined ? {} : { password }),
      disableOfflineQueue: true,
      disableClientInfo: true,
      maintNotifications: "disabled" as const,
      socket: { connectTimeout: 2_000, keepAlive: true, reconnectStrategy: reconnectDelay },
    };
    this.cmd = createClient({ ...base, name: `${opts.name}:cmd`, commandOptions: { timeout: opts.commandTimeoutMs, rejectInFlight: true } });
    this.blocking = createClient({ ...base, name: `${opts.name}:blocking` });
    this.sub = createClient({ ...base, name: `${opts.name}:sub` });
    for (const [role, client] of [
      ["cmd", this.cmd],
      ["blocking", this.blocking],
      ["sub", this.sub],
    ] as const) {
      // Without a listener an 'error' event would throw; the PING below decides up or down.
      client.on("error", (err: Error) => opts.log.debug("redis connection error", { role, error: err.message }));
      client.on("end", () => this.setUp(false));
      client.connect().catch((err: Error) => opts.log.debug("redis connect failed", { role, error: err.message }));
    }
    // A (re)connected `cmd` is PINGed at once rather than at the next tick: an edge that just started
    // (with keys to announce, issue 12 §6) or a Redis that came back is followed without waiting a second.
    this.cmd.on("ready", () => void this.ping());
    this.pinger = setInterval(() => void this.ping(), opts.pingIntervalMs ?? 1_000);
    this.pinger.unref();
    void this.ping();
  }

  /** A key of this fleet. */
  key(name: string): string {
    return this.prefix + name;
  }

  /** Whether the last PING was answered within the deadline. */
  up(): boolean {
    return this.upNow;
  }

  /** Told on every change of `up()`; returns the unsubscribe. */
  onUp(listener: (up: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** PINGs now (besides the timer) and answers whether Redis is up. */
  async ping(): Promise<boolean> {
    if (this.pinging || this.closed) return this.upNow;
    this.pinging = true;
    try {
      await this.cmd.ping();
      this.setUp(true);
    } catch {
      this.setUp(false);
    } finally {
      this.pinging = false;
    }
    return this.upNow;
  }

  private setUp(up: boolean): void {
    if (up === this.upNow || this.closed) return;
    this.upNow = up;
    this.opts.log.info(up ? "fleet redis up" : "fleet redis down");
    for (const listener of this.listeners) listener(up);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pinger);
    this.listeners.clear();
    // destroy(): no QUIT round trip, which a frozen or dead Redis would never answer.
    for (const client of [this.cmd, this.blocking, this.sub]) {
      try {
        client.destroy();
      } catch {
        // never opened
      }
    }
  }
}
