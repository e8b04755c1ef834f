// What GET /v1/cluster shows (issue 12): this edge's replica against the fleet's Redis, and the
// peers that announced themselves in the edge registry (`P edges`, scored by their last announcement).
import type { RedisLink } from "./redis.js";
import type { Replica } from "./replica.js";

/** A registered edge counts as a peer while its last announcement is this recent (the registry's TTL). */
export const PEER_WINDOW_MS = 3_000;

export interface ClusterView {
  edge: string;
  connected: boolean;
  epoch: string | null;
  appliedSeq: number;
  /** Redis's seq now; the last one seen when Redis does not answer. */
  redisSeq: number;
  lag: number;
  staleSeconds: number;
  /** Announced edges (this one included) and how long ago they last announced; empty when Redis does not answer. */
  peers: { id: string; lastSeenMs: number }[];
}

export async function clusterView(edge: string, link: RedisLink, replica: Replica): Promise<ClusterView> {
  const status = replica.status();
  let redisSeq = status.redisSeq;
  let peers: ClusterView["peers"] = [];
  if (link.up()) {
    const now = Date.now();
    try {
      const [head, scored] = await Promise.all([replica.log.head(), link.cmd.zRangeByScoreWithScores(link.key("edges"), now - PEER_WINDOW_MS, "+inf")]);
      redisSeq = head.seq;
      peers = scored.map(({ value, score }) => ({ id: value, lastSeenMs: Math.max(0, now - score) }));
    } catch {
      // past the deadline: the replica's own view stands
    }
  }
  return {
    edge,
    connected: status.connected,
    epoch: status.epoch,
    appliedSeq: status.applied,
    redisSeq,
    lag: Math.max(0, redisSeq - status.applied),
    staleSeconds: status.staleSeconds,
    peers,
  };
}
