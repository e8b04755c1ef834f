// Lua scripts on the fleet's Redis: sent once as EVALSHA by their SHA-1, and in full only when
// Redis answers NOSCRIPT (first use, or a Redis that restarted empty and lost its script cache).
import { createHash } from "node:crypto";
import type { RedisClient } from "./redis.js";

export class RedisScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(client: RedisClient, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await client.evalSha(this.sha, { keys, arguments: args });
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return client.eval(this.source, { keys, arguments: args });
    }
  }
}
