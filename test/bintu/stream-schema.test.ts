// bintu stream JSON from the network (src/bintu/stream-schema.ts): the right shape becomes a
// StreamInfo; anything else is an error with a reason, never a stream.
import fc from "fast-check";
import t from "tap";
import { parseStreamList } from "../../src/bintu/stream-schema.js";

const valid = {
  id: "5f86a12f-3801-415a-b450-6b6a46842349",
  state: "live",
  type: "low-latency",
  created_at: "2018-10-02T08:53:50.377Z",
  webrtc: true,
  tags: ["myTag"],
  ingest: { rtmp: { url: "rtmp://bintu-stream.nanocosmos.de:1935/live", streamname: "hrzcqQ_58r" } },
  playout: { rtmp: [], hls: [], web: [] },
};

t.test("bintu's stream object (with fields we do not read) → StreamInfo", async (t) => {
  t.same(parseStreamList([valid]), {
    ok: true,
    value: [{ id: valid.id, name: "hrzcqQ_58r", state: "live", tags: ["myTag"] }],
  });
  t.same(parseStreamList([]), { ok: true, value: [] });
});

const WRONG: [string, unknown][] = [
  ["not a list", { ...valid }],
  ["null", null],
  ["state outside the set", [{ ...valid, state: "open" }]],
  ["id a number", [{ ...valid, id: 42 }]],
  ["no ingest (the player profile)", [{ ...valid, ingest: undefined }]],
  ["empty stream name", [{ ...valid, ingest: { rtmp: { streamname: "" } } }]],
  ["tags missing", [{ ...valid, tags: undefined }]],
  ["tags not strings", [{ ...valid, tags: [1] }]],
  ["one bad item among good ones", [valid, { ...valid, state: 1 }]],
];

for (const [what, json] of WRONG) {
  t.test(`wrong shape: ${what} → error`, async (t) => {
    const r = parseStreamList(json);
    t.equal(r.ok, false);
    if (!r.ok) t.match(r.reason, /^unexpected stream JSON at /);
  });
}

t.test("property: any JSON value parses only into streams whose fields it really had", async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (json) => {
      const r = parseStreamList(json);
      if (!r.ok) return true;
      const items = json as { id: unknown; state: unknown; ingest: { rtmp: { streamname: unknown } } }[];
      return r.value.every((s, i) => s.id === items[i].id && s.state === items[i].state && s.name === items[i].ingest.rtmp.streamname);
    }),
    { numRuns: 2_000, seed: 4 },
  );
  t.pass("2,000 random JSON values");
});
