import type { StreamRecord, StreamState } from "./registry.js";

export interface BintuUrls {
  rtmpIngest: string; // rtmp://host:port/live
  rtmpPlay: string; // rtmp://host:port/live
  flvPlayBase: string; // http://host:port/live
}

export interface BintuStreamJson {
  id: string;
  state: StreamState;
  type: "live";
  created_at: string;
  updated_at: string;
  tags: string[];
  ingest?: { rtmp: { url: string; streamname: string } };
  playout: {
    h5live: never[];
    rtmp: { url: string; streamname: string; type: "live" }[];
    hls: never[];
    web: never[];
    flv: { url: string; type: "live" }[];
  };
}

/**
 * The bintu stream object (docs/nanostream.md §1.3). `updated_at` and `playout.flv` are ours: bintu
 * shows "Last Updated" without a known field name, and this edge plays HTTP-FLV, not H5Live.
 * The `player` profile is served without auth, so it leaves out `ingest` and, like bintu's
 * player view, lists playouts only while live. Those playouts still carry the stream name (the
 * publish key), as bintu's do: while live it is visible to anyone who holds the stream id.
 */
export function toBintuJson(rec: StreamRecord, urls: BintuUrls, profile?: "player"): BintuStreamJson {
  const forPlayer = profile === "player";
  const playable = !forPlayer || rec.state === "live";
  return {
    id: rec.id,
    state: rec.state,
    type: "live",
    created_at: rec.createdAt,
    updated_at: rec.updatedAt,
    tags: rec.tags,
    ...(forPlayer ? {} : { ingest: { rtmp: { url: urls.rtmpIngest, streamname: rec.name } } }),
    playout: {
      h5live: [],
      rtmp: playable ? [{ url: urls.rtmpPlay, streamname: rec.name, type: "live" }] : [],
      hls: [],
      web: [],
      flv: playable ? [{ url: `${urls.flvPlayBase}/${rec.name}.flv`, type: "live" }] : [],
    },
  };
}
