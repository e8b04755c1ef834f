// Start-up check that node-media-server carries the project's patch (issue 11 §5). The patch is
// applied by `postinstall` (patch-package) only: `npm ci --ignore-scripts`, a copied
// node_modules or a package manager that skips scripts leaves NMS as published, and the edge would
// run with the RTMP parser's memory and chunk-stream limits silently unenforced.
// The check asks the loaded code for what the patch does, not for a file hash: a hash would break
// on any harmless re-indent and say nothing about which behaviour is missing.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The patch file the project ships, as `npx patch-package` applies it. */
export const NMS_PATCH_FILE = "patches/node-media-server+4.4.3.patch";

interface ProbeRtmp {
  limits?: { maxMessageSize: number; maxBufferedBytes: number; maxChunkStreams: number; maxChunkSize: number };
  onOutputCallback: (buf: Buffer) => void;
  parserData(buf: Buffer): string | null;
}

const HANDSHAKE_SIZE = 1536;

/**
 * Drives a fresh parser through the handshake, then announces a message one byte over a tiny
 * `maxMessageSize`. The patched parser refuses it from the header alone (RTMP_MESSAGE_TOO_LARGE);
 * NMS 4.4.3 as published has no `limits` and reserves the announced length instead.
 */
function parserEnforcesLimits(Rtmp: new () => ProbeRtmp): boolean {
  const rtmp = new Rtmp();
  if (typeof rtmp.limits !== "object" || rtmp.limits === null) return false;
  rtmp.limits = { ...rtmp.limits, maxMessageSize: 64 };
  rtmp.onOutputCallback = () => {};
  const c0c1c2 = Buffer.alloc(1 + 2 * HANDSHAKE_SIZE);
  c0c1c2[0] = 3; // RTMP version
  // fmt 0 on chunk stream 3: timestamp 0, length 65, type 20 (AMF0 command), message stream 0.
  const header = Buffer.from([0x03, 0, 0, 0, 0, 0, 65, 20, 0, 0, 0, 0]);
  try {
    rtmp.parserData(Buffer.concat([c0c1c2, header]));
  } catch (err) {
    return (err as { code?: unknown }).code === "RTMP_MESSAGE_TOO_LARGE";
  }
  return false;
}

/**
 * Why the node-media-server under `root` lacks the patch, or null when it carries it.
 * `root` is the package's directory; the default is the copy this process loads, so the check
 * and the adapter (nms.ts) read the same modules.
 */
export function nmsPatchProblem(root?: string): string | null {
  const requireNms = root ? createRequire(join(root, "package.json")) : createRequire(import.meta.url);
  const base = root ? "." : "node-media-server";
  const Rtmp = requireNms(`${base}/src/protocol/rtmp.js`) as new () => ProbeRtmp;
  const BroadcastServer = requireNms(`${base}/src/server/broadcast_server.js`) as new (path: string) => { maxGopCacheBytes?: unknown };
  const missing: string[] = [];
  if (!parserEnforcesLimits(Rtmp)) missing.push("RTMP parser limits");
  if (typeof new BroadcastServer("/probe/probe").maxGopCacheBytes !== "number") missing.push("GOP cache byte bound");
  if (missing.length === 0) return null;
  const where = dirname(requireNms.resolve(`${base}/package.json`));
  return `node-media-server at ${where} lacks ${NMS_PATCH_FILE} (${missing.join(", ")} missing); apply it with \`npx patch-package\` in the install directory`;
}
