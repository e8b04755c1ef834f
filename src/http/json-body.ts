import type { FastifyInstance } from "fastify";

/**
 * JSON bodies for the bintu-compatible scopes: fastify's parser with prototype-poisoning keys
 * refused, and an empty body read as "no body" — bintu clients send the JSON content type on
 * requests whose body is optional (POST /stream).
 */
export function acceptOptionalJsonBody(scope: FastifyInstance): void {
  const strictJson = scope.getDefaultJsonParser("error", "error");
  scope.removeContentTypeParser("application/json");
  scope.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (body === "") return done(null, undefined);
    // fastify's default parser answers through `done`; its type also admits a promise-returning
    // parser, which this one is not, so there is nothing to await.
    void strictJson(request, String(body), done);
  });
}
