// The API port's fast lane (src/http/fast-lane.ts, issue 14 §9): routes answered before fastify keep
// what fastify did for them — HEAD like GET without a body, a path matched after decodeURI as
// find-my-way matches it, other methods left to fastify's 404, bodies over api.bodyLimit refused
// before they are read.
import t from "tap";
import { startEdge } from "../helpers/edge.js";
import { exchange, parseAnswers, type Answer } from "../helpers/raw-http.js";

const SECRET = "lane-secret";
const codeOf = (a: Answer) => (JSON.parse(a.body.toString()) as { code: string }).code;

t.test("lane routes answer as fastify did", async (t) => {
  const edge = await startEdge(t, { EDGE_HOOKS_SECRET: SECRET, EDGE_API_BODY_LIMIT: "1024" });
  const port = edge.addresses.api.port;
  const ask = async (head: string, body = "") => {
    const { bytes } = await exchange(
      port,
      `${head}\r\nHost: edge\r\nConnection: close\r\n${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ""}\r\n${body}`,
    );
    const [a] = parseAnswers(bytes, head.startsWith("HEAD "));
    return a;
  };

  const get = await ask("GET /v1/authorize/play?stream=NoSuch-Stream1 HTTP/1.1");
  t.equal(get.status, 404);
  t.same(JSON.parse(get.body.toString()), { code: "EDGE_ERR_STREAM_UNKNOWN", reason: "no such stream" });
  const head = await ask("HEAD /v1/authorize/play?stream=NoSuch-Stream1 HTTP/1.1");
  t.equal(head.status, 404, "HEAD: the GET answer's status");
  t.equal(head.headers["content-type"], get.headers["content-type"], "and content type");
  t.equal(head.headers["content-length"], get.headers["content-length"], "and length, with no body");

  const decoded = await ask("GET /v1/%61uthorize/play?stream=NoSuch-Stream1 HTTP/1.1");
  t.equal(decoded.status, 404, "an escaped path reaches the route, as through find-my-way");
  t.equal(codeOf(decoded), "EDGE_ERR_STREAM_UNKNOWN");
  const malformed = await ask("GET /v1/authorize/play%zz HTTP/1.1");
  t.same(
    JSON.parse(malformed.body.toString()),
    { code: "EDGE_ERR_BAD_REQUEST", reason: "malformed request: malformed path" },
    "a broken escape: fastify's 400",
  );

  for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
    const other = await ask(`${method} /v1/authorize/play?stream=x HTTP/1.1`, "{}");
    t.equal(other.status, 404, `${method}: fastify's 404, as before the move`);
    t.equal(codeOf(other), "EDGE_ERR_NOT_FOUND");
  }
  t.equal((await ask(`GET /v1/hooks/srs?secret=${SECRET} HTTP/1.1`)).status, 404, "a POST-only hook: GET is not found");
  t.equal((await ask(`POST /v1/hooks/srs/?secret=${SECRET} HTTP/1.1\r\nContent-Type: application/json`, "{}")).status, 404, "no trailing slash");

  const big = await ask(`POST /v1/hooks/srs?secret=${SECRET} HTTP/1.1\r\nContent-Type: application/json`, JSON.stringify({ pad: "x".repeat(2000) }));
  t.equal(big.status, 413, "a body over api.bodyLimit");
  t.same(JSON.parse(big.body.toString()), { code: "EDGE_ERR_BODY_TOO_LARGE", reason: "request body exceeds api.bodyLimit: Request body is too large" });
  t.equal(big.headers.connection, "close", "and the connection ends with the answer");
  const plain = await ask(`POST /v1/hooks/srs?secret=${SECRET} HTTP/1.1\r\nContent-Type: text/plain`, "{}");
  t.equal(plain.status, 415, "a type no hook reads: the edge's 415");
  t.equal(codeOf(plain), "EDGE_ERR_UNSUPPORTED_MEDIA_TYPE");
});
