// OvenMediaEngine AdmissionWebhooks as one AccessRequest, and the decision as the JSON it needs
// (docs/hooks.md §4). Pure: the signature is an HMAC computed by node:crypto, no I/O.
import { createHmac, timingSafeEqual } from "node:crypto";
import { errorBody } from "../errors.js";
import { parseQuery } from "../primitives/stream-key.js";
import { hookRequest, JSON_TYPE, jsonObject, payloadStatus, refuse, str, type HookAnswer, type HookCall, type Verdict } from "./types.js";

/** `X-OME-Signature`: base64url of HMAC-SHA1(secret, raw body), padding removed (docs/hooks.md §4.3). */
export function omeSignature(secret: string, raw: Buffer | string): string {
  return createHmac("sha1", secret).update(raw).digest("base64url");
}

/**
 * Constant time: every signature is 27 characters (20 bytes in base64url without padding), a length
 * that is public, so only a header of that length is compared, byte for byte with timingSafeEqual.
 */
export function omeSignatureValid(secret: string, raw: Buffer | string, header: string | undefined): boolean {
  if (header === undefined || header.length !== SIGNATURE_LENGTH) return false;
  return timingSafeEqual(Buffer.from(omeSignature(secret, raw)), Buffer.from(header));
}

const SIGNATURE_LENGTH = 27;

/**
 * The address to decide with: `client.real_ip` comes from X-Real-IP / X-Forwarded-For, which OME
 * takes from anyone, so it is believed only when `client.address` is a trusted proxy.
 */
export type TrustedProxy = (ip: string) => boolean;

export function parseOme(raw: string, trusted: TrustedProxy): HookCall {
  const o = jsonObject(raw);
  const client = o && object(o.client);
  const request = o && object(o.request);
  if (!client || !request) return refuse("EDGE_ERR_BAD_REQUEST", "body needs the objects `client` and `request`");
  const [address, realIp] = [str(client, "address"), str(client, "real_ip")];
  const [direction, protocol, status, url] = ["direction", "protocol", "status", "url"].map((k) => str(request, k));
  const port = client.port;
  if (address === null || realIp === null || direction === null || protocol === null || status === null || url === null || !address) {
    return refuse("EDGE_ERR_BAD_REQUEST", "client.address and request.direction, protocol, status, url must be strings");
  }
  const role = direction === "incoming" ? "publisher" : direction === "outgoing" ? "player" : null;
  if (!role) return refuse("EDGE_ERR_BAD_REQUEST", "request.direction is neither incoming nor outgoing");
  // Code strings in mixed case (`RTMP`, `WebRTC`, `LLHLS`); OME's docs show them in lower case.
  const proto = protocol.toLowerCase();
  const id = `ome-${address}:${typeof port === "number" ? port : ""}-${proto}-${role}`;
  if (status === "closing") return { kind: "done", sessionIds: [id] };
  if (status !== "opening") return refuse("EDGE_ERR_BAD_REQUEST", "request.status is neither opening nor closing");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse("EDGE_ERR_BAD_REQUEST", "request.url is not a URL");
  }
  // SRT names the stream in its `streamid`, itself a URL-encoded `srt://host:port/app/stream?…`
  // (docs/hooks.md §4.1).
  const streamId = parsed.pathname.replace(/\//g, "") === "" ? parsed.searchParams.get("streamid") : null;
  if (streamId !== null) {
    try {
      parsed = new URL(streamId);
    } catch {
      return refuse("EDGE_ERR_BAD_REQUEST", "request.url's streamid is not a URL");
    }
  }
  // `/app/stream[/file]`: LLHLS names the playlist after the stream.
  const [app = "", name = ""] = parsed.pathname.split("/").slice(1).map(safeDecode);
  const query = parseQuery(parsed.search.slice(1));
  if (!query.ok) return refuse(query.error);
  const ip = realIp && trusted(address) ? realIp : address;
  const req = hookRequest(role === "publisher" ? "publish" : "play", { app, name, query: query.value, ip, clientId: id });
  if (typeof req === "string") return refuse(req);
  return { kind: "decide", request: req, session: { id, role, protocol: proto, clientId: id } };
}

/** A percent-escape that does not decode stays as it is (and then fails the name rules). */
const safeDecode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

const object = (v: unknown): Record<string, unknown> | null =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

/** True for `request.status: closing`, which OME waits only 500 ms for (answered before anything else). */
export function omeClosing(call: HookCall): boolean {
  return call.kind === "done";
}

/**
 * `opening` → 200 `{"allowed", "reason"}` plus `lifetime` (ms until the token's `exp`) on an allowed
 * play with a token; `closing` → 200 `{}`. A payload OME should never send gets its 4xx, which OME
 * reads as a refusal (docs/hooks.md §4.4).
 */
export function answerOme(call: HookCall, verdict: Verdict, nowMs: number): HookAnswer {
  if (call.kind === "done") return { status: 200, contentType: JSON_TYPE, body: "{}" };
  if (!verdict.allow) {
    const { code, reason } = errorBody(verdict.code, verdict.detail);
    return { status: payloadStatus(verdict.code) ?? 200, contentType: JSON_TYPE, body: JSON.stringify({ allowed: false, reason: `${code}: ${reason}` }) };
  }
  const lifetime = verdict.tokenExpMs === undefined ? undefined : Math.max(1, Math.floor(verdict.tokenExpMs - nowMs));
  return { status: 200, contentType: JSON_TYPE, body: JSON.stringify({ allowed: true, reason: "ok", ...(lifetime === undefined ? {} : { lifetime }) }) };
}
