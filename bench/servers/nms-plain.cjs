// The anchor "node-media-server 4.4.3 unpatched, no hooks": the pristine package that
// bench/setup.sh fetched into bench/.vendor/nms (the project's node_modules copy is patched).
// Run as its own process so its CPU and RSS are its own. Config is the minimum:
// { rtmp: { port }, http: { port } }, plus `bind` (load stays on 127.0.0.1) and a store dir
// (NMS always writes one; cwd is the bench's temp dir). No event listeners are registered.
//
// env: NMS_RTMP_PORT, NMS_HTTP_PORT (required; NMS treats 0 as "disabled"),
//      NMS_NODELAY=1  apply socket.setNoDelay(true) to RTMP sockets (NMS ships with Nagle on),
//      NMS_DIR        NMS's package directory (default bench/.vendor/nms).
// Prints "nms-plain ready: rtmp N, http N" once both listeners are up.
"use strict";
const path = require("node:path");

const dir = process.env.NMS_DIR || path.join(__dirname, "..", ".vendor", "nms");
const rtmpPort = Number(process.env.NMS_RTMP_PORT);
const httpPort = Number(process.env.NMS_HTTP_PORT);
if (!(rtmpPort > 0) || !(httpPort > 0)) {
  process.stderr.write("nms-plain: NMS_RTMP_PORT and NMS_HTTP_PORT must be set (> 0)\n");
  process.exit(2);
}

const NodeMediaServer = require(dir);
const logger = require(path.join(dir, "src", "core", "logger.js"));
const nms = new NodeMediaServer({
  bind: "127.0.0.1",
  rtmp: { port: rtmpPort },
  http: { port: httpPort },
  store: { path: path.join(process.cwd(), "nms-data") },
});
logger.level = "error"; // the constructor sets "debug"

if (process.env.NMS_NODELAY === "1") {
  // Runs after NMS's own connection handler, in the same tick, before any byte is read.
  nms.rtmpServer.tcpServer.on("connection", (socket) => socket.setNoDelay(true));
}

let pending = 2;
const up = () => {
  if (--pending === 0) process.stdout.write(`nms-plain ready: rtmp ${rtmpPort}, http ${httpPort}\n`);
};
nms.rtmpServer.tcpServer.once("listening", up);
nms.httpServer.httpServer.once("listening", up);
nms.run();

const stop = () => {
  nms.stop().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
