// Outbound TLS with the configured CA (issue 15 §4): other edges' APIs (health and load probes,
// JWKS), remote bintu and the organisation webhook are reached through Node's fetch with an undici
// dispatcher that trusts the system store *and* tls.caFile — a private CA for a fleet's own
// certificates, without turning verification off. Without tls.caFile the global fetch is used
// as is (system store only).
import tls from "node:tls";
import { Agent } from "undici";

export interface TrustingFetch {
  readonly fetch: typeof fetch;
  /** The same trust for Node's https client (the origin pull): the system store and tls.caFile. */
  readonly ca: readonly string[];
  /** Closes the pooled connections. */
  close(): Promise<void>;
}

export function trustingFetch(caPems: readonly string[]): TrustingFetch {
  const ca = [...tls.rootCertificates, ...caPems];
  const dispatcher = new Agent({ connect: { ca } });
  // Node 20's fetch is undici 6 inside and takes an undici 6 dispatcher (the `dispatcher` option
  // is Node's extension of RequestInit, not in the DOM type).
  const fetchWithCa: typeof fetch = (input, init) => fetch(input, { ...init, dispatcher } as RequestInit);
  return { fetch: fetchWithCa, ca, close: () => dispatcher.close() };
}
