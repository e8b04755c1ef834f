// Sessions (issue 16 §4): publishers, players and relays with address, protocol, duration and
// bytes (and, in a fleet, a publisher's key owner), refreshed by the live updates; an admin can kick one.
import { api, can, type Role, type SessionJson } from "../api.js";
import { formatBytes, formatDuration, h, table } from "../dom.js";
import { latest, onSnapshot } from "../live.js";
import type { Page } from "./ctx.js";

/** The sessions table; `report` hears the outcome of a kick. */
export function sessionsTable(caption: string, sessions: SessionJson[], role: Role, report: (msg: string) => void): HTMLElement {
  if (sessions.length === 0) return h("p", {}, "No sessions right now.");
  const kick = (s: SessionJson) =>
    api(`/v1/sessions/${encodeURIComponent(s.id)}`, { method: "DELETE" })
      .then(() => report(`Session ${s.id} (${s.role} of ${s.stream}) kicked.`))
      .catch((err: Error) => report(`Could not kick ${s.id}: ${err.message}`));
  const admin = can(role, "nanoAdmin");
  // In a fleet a publisher names its key's owner (issue 12); on one edge the column is left out.
  const fleet = sessions.some((s) => s.owner !== undefined);
  // Sessions name their stream; the live updates know which id that is (embedded mode).
  const ids = new Map((latest()?.streams ?? []).map((x) => [x.name, x.id]));
  const rows = sessions.map((s) =>
    h(
      "tr",
      { "data-id": s.id },
      h("td", {}, s.role),
      h("td", {}, ids.has(s.stream) ? h("a", { href: `#/stream/${ids.get(s.stream)}` }, s.stream) : s.stream),
      h("td", {}, `${s.protocol}${s.server !== "edge" ? ` (${s.server})` : ""}`),
      h("td", {}, s.ip),
      h("td", {}, formatDuration(s.startedAt)),
      h("td", {}, formatBytes(s.bytesIn)),
      h("td", {}, formatBytes(s.bytesOut)),
      fleet ? h("td", {}, s.owner === undefined ? "" : (s.owner ?? "not confirmed yet")) : null,
      admin ? h("td", {}, h("button", { type: "button", class: "danger", "aria-label": `Kick ${s.role} ${s.id}`, onclick: () => void kick(s) }, "Kick")) : null,
    ),
  );
  return table(
    caption,
    ["Role", "Stream", "Protocol", "Address", "Duration", "Bytes in", "Bytes out", ...(fleet ? ["Owner"] : []), ...(admin ? ["Action"] : [])],
    rows,
  );
}

export const sessionsPage: Page = async ({ info, main }) => {
  const status = h("p", { role: "status", class: "status" });
  const box = h("div");
  const draw = (sessions: SessionJson[]) =>
    box.replaceChildren(sessionsTable(`Sessions (${sessions.length})`, sessions, info.role, (m) => (status.textContent = m)));
  draw(await api<SessionJson[]>("/v1/sessions"));
  main.replaceChildren(h("h1", {}, "Sessions"), status, box);
  return onSnapshot((snap) => draw(snap.sessions));
};
