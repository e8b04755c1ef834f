// GET /v1/authorize/play: the play decision for an external media server or CDN (nginx auth_request).
import t from "tap";
import fc from "fast-check";
import { authorizeQueryAsPath } from "../../src/http/api-server.js";
import { startEdge } from "../helpers/edge.js";

t.test("decides a play named by query or by X-Original-URI", async (t) => {
  const edge = await startEdge(t);
  const { id, name } = await edge.createStream();
  const locked = await edge.createStream();
  await edge.api(`/stream/${locked.id}/lock`, { method: "PUT" });
  const ask = async (query: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`http://127.0.0.1:${edge.addresses.api.port}/v1/authorize/play${query}`, { headers });
    return { status: res.status, code: res.status === 204 ? null : ((await res.json()) as { code: string }).code };
  };
  t.same(await ask(`?stream=${name}`), { status: 204, code: null }, "a known stream: allowed (liveness is the media server's business)");
  t.same(await ask(`?stream=${name}&app=rec`), { status: 204, code: null });
  t.same(await ask("", { "X-Original-URI": `/live/${name}.flv?jwtoken=x` }), { status: 204, code: null });
  t.same(await ask("?stream=NoSuch-Stream1"), { status: 404, code: "EDGE_ERR_STREAM_UNKNOWN" });
  t.same(await ask(`?stream=${locked.name}`), { status: 403, code: "EDGE_ERR_STREAM_LOCKED" });
  t.same(await ask(`?stream=${name}&app=other`), { status: 404, code: "EDGE_ERR_BAD_APP" });
  t.same(await ask("?stream=a%2Fb"), { status: 400, code: "EDGE_ERR_BAD_NAME" });
  t.same(await ask("", { "X-Original-URI": "/live/a%2Eb.flv" }), { status: 400, code: "EDGE_ERR_BAD_NAME" });
  t.same(await ask(`?stream=${name}&jwtoken=a&jwtoken=b`), { status: 400, code: "EDGE_ERR_BAD_QUERY" });
  t.same(await ask(""), { status: 400, code: "EDGE_ERR_BAD_REQUEST" });
  t.same(await ask(`?stream=${name}&stream=${name}`), { status: 400, code: "EDGE_ERR_BAD_REQUEST" });
  t.same(await ask("", { "X-Original-URI": "/nonsense" }), { status: 400, code: "EDGE_ERR_BAD_REQUEST" });
  await edge.api(`/stream/${id}`, { method: "DELETE" });
  t.same(await ask(`?stream=${name}`), { status: 403, code: "EDGE_ERR_STREAM_DELETED" }, "a deleted stream is refused at once");
});

// The oracle: the URLSearchParams spelling authorizeQueryAsPath replaced (issue 14 §9: same paths, cheaper).
function referenceQueryAsPath(url: string): string | null {
  const q = url.indexOf("?");
  const params = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
  const stream = params.get("stream");
  if (stream === null || params.getAll("stream").length > 1 || params.getAll("app").length > 1) return null;
  const app = params.get("app") ?? "live";
  params.delete("stream");
  params.delete("app");
  const rest = params.toString();
  return `/${encodeURIComponent(app)}/${encodeURIComponent(stream)}${rest ? "?" + rest : ""}`;
}

t.test("the ?stream= form becomes the same play path as URLSearchParams made it", async (t) => {
  const pieces = ["stream=", "app=", "jwtoken=", "Ab-_9", "live", "&", "=", "?", "%2F", "%zz", "+", " ", "é", "*", ".", "~", "%00", "a.b"];
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 24 }), (parts) => {
      const url = `/v1/authorize/play?${parts.join("")}`;
      t.equal(authorizeQueryAsPath(url), referenceQueryAsPath(url), url);
    }),
    { numRuns: 3000 },
  );
});
