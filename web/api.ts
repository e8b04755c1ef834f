// The page's one way to the API: the key from the sign-in form, held in sessionStorage (this tab
// only, issue 16 §1), sent as X-BINTU-APIKEY; every family's error envelope read into one message.
export type Role = "nanoAdmin" | "nanoUser" | "nanoReadOnly";

export interface Info {
  role: Role;
  keyId: string;
  embedded: boolean;
  playback: { tokenRequired: boolean };
  /** In a fleet (issue 12): this edge's id. */
  fleet: { edgeId: string } | null;
  guardian: { enforceOnActive: boolean; wouldDeny: { action: string; kind: string; count: number }[] };
}

export interface StreamJson {
  id: string;
  state: "created" | "live" | "ended" | "locked";
  created_at: string;
  tags: string[];
  ingest?: { rtmp: { url: string; streamname: string } };
  playout: { rtmp: { url: string; streamname: string }[]; flv?: { url: string }[] };
}

export interface SessionJson {
  id: string;
  role: "publisher" | "player" | "relay";
  protocol: string;
  server: string;
  app: string;
  stream: string;
  ip: string;
  startedAt: string;
  bytesIn: number;
  bytesOut: number;
  /** In a fleet, a publisher's key owner: this edge's id, or null while the fleet has not confirmed it. */
  owner?: string | null;
}

const RANK: Record<Role, number> = { nanoAdmin: 3, nanoUser: 2, nanoReadOnly: 1 };
const STORAGE = "bintu-edge-key";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const storedKey = (): string | null => sessionStorage.getItem(STORAGE);
export const storeKey = (key: string | null) => (key === null ? sessionStorage.removeItem(STORAGE) : sessionStorage.setItem(STORAGE, key));

/** The message of any of the API's envelopes: edge `{code, reason}`, bintu `{error:{message}}`, splay `{message}`. */
function messageOf(status: number, body: unknown): string {
  const b = (body ?? {}) as { reason?: string; code?: unknown; message?: string; error?: { message?: string; userinfo?: Record<string, unknown> } };
  if (b.error?.message) {
    const info = b.error.userinfo && Object.keys(b.error.userinfo).length ? ` (${Object.values(b.error.userinfo).join(", ")})` : "";
    return b.error.message + info;
  }
  return b.reason ?? b.message ?? `HTTP ${status}`;
}

export async function api<T = unknown>(path: string, init: { method?: string; json?: unknown; key?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { "X-BINTU-APIKEY": init.key ?? storedKey() ?? "" };
  if (init.json !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method: init.method ?? "GET", headers, body: init.json === undefined ? undefined : JSON.stringify(init.json) });
  const text = await res.text();
  const body: unknown = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new ApiError(res.status, messageOf(res.status, body));
  return body as T;
}

/** What the signed-in key may do, mirroring the API's checks (the API refuses anyway). */
export function can(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}
