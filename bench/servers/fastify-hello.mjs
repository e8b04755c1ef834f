// The HTTP anchor of bench/routing.ts: the smallest fastify app, one JSON route, logger off, on
// 127.0.0.1 and a free port (HELLO_PORT, default 0). Prints `fastify-hello ready: port N`.
// fastify is the edge's own HTTP framework (a dependency), so the ratio edge / hello is what the
// edge's /v1/route handler adds on top of the framework's floor.
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.get("/hello", async () => ({ hello: "world" }));

await app.listen({ host: "127.0.0.1", port: Number(process.env.HELLO_PORT ?? 0) });
const address = app.server.address();
process.stdout.write(`fastify-hello ready: port ${typeof address === "object" && address ? address.port : "?"}\n`);

const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
