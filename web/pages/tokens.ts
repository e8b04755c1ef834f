// Tokens (issue 16 §6): issue a playback token (scope, expiry, IP / domain binding), copy the player
// URL with `jwtoken`, revoke. Tokens issued here are listed for this tab only: the edge keeps no
// list of issued tokens, only of revoked ones.
import { api, type StreamJson } from "../api.js";
import { copyField, field, h, select } from "../dom.js";
import type { Page } from "./ctx.js";

interface Issued {
  token: string;
  scope: string;
  exp: number;
  revocable: boolean;
  playerUrl: string | null;
}

const issued: Issued[] = [];

export const tokensPage: Page = async ({ info, main }) => {
  const status = h("p", { role: "status", class: "status" });
  const listBox = h("div");

  const scopeKind = select("scopeKind", [
    ["streams", "Named streams"],
    ["groupid", "A stream group (tag)"],
    ["orgawide", "Every stream of the organisation"],
  ]);
  const scopeValue = h("input", { type: "text", name: "scopeValue", placeholder: "stream names, comma-separated" });
  const minutes = h("input", { type: "number", name: "minutes", min: 1, step: 1, value: 60, required: true });
  const ip = h("input", { type: "text", name: "ip", placeholder: "optional, IPv4" });
  const domain = h("input", { type: "text", name: "domain", placeholder: "optional, e.g. example.com" });
  const revocable = h("input", { type: "checkbox", name: "revocable", id: "token-revocable", checked: true });
  const form = h(
    "form",
    { class: "grid", "aria-label": "Issue a playback token" },
    field("Scope", scopeKind),
    field("Streams or group", scopeValue, "stream names (comma-separated) or the group id"),
    field("Valid for (minutes)", minutes),
    field("Bind to IP", ip),
    field("Bind to domain", domain),
    h("div", { class: "field" }, h("label", { for: "token-revocable" }, revocable, " Revocable (at most 24 h)")),
    h("button", { type: "submit" }, "Issue token"),
  );

  /** The first named stream's HTTP-FLV URL with the token, for a player. */
  async function playerUrl(stream: string | undefined, token: string): Promise<string | null> {
    if (!stream || !info.embedded) return null;
    const [s] = await api<StreamJson[]>(`/stream?streamname=${encodeURIComponent(stream)}`);
    const flv = s?.playout.flv?.[0]?.url;
    return flv ? `${flv}?jwtoken=${encodeURIComponent(token)}` : null;
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const exp = Math.floor(Date.now() / 1000) + Math.round(Number(minutes.value) * 60);
    const names = scopeValue.value
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean);
    const body: Record<string, unknown> = { exp, revocable: revocable.checked };
    if (scopeKind.value === "streams") body.streams = names;
    else if (scopeKind.value === "groupid") body.groupid = scopeValue.value.trim();
    else body.orgawide = true;
    if (ip.value.trim()) body.ip = ip.value.trim();
    if (domain.value.trim()) body.domain = domain.value.trim();
    api<{ data: { token: string } }>("/api/v1/splay", { method: "POST", json: body })
      .then(async ({ data }) => {
        const scope =
          scopeKind.value === "orgawide" ? "organisation" : scopeKind.value === "groupid" ? `group ${scopeValue.value.trim()}` : `streams ${names.join(", ")}`;
        issued.unshift({
          token: data.token,
          scope,
          exp,
          revocable: revocable.checked,
          playerUrl: scopeKind.value === "streams" ? await playerUrl(names[0], data.token) : null,
        });
        status.textContent = "Token issued.";
        draw();
      })
      .catch((err: Error) => (status.textContent = `Could not issue the token: ${err.message}`));
  });

  const revoke = (t: Issued) =>
    api("/api/v1/splay/revoke", { method: "POST", json: { token: t.token } })
      .then(() => {
        issued.splice(issued.indexOf(t), 1);
        status.textContent = "Token revoked: sessions playing with it end.";
        draw();
      })
      .catch((err: Error) => (status.textContent = `Could not revoke: ${err.message}`));

  const draw = () =>
    listBox.replaceChildren(
      ...(issued.length
        ? issued.map((t, i) =>
            h(
              "article",
              { class: "token", "aria-label": `Token ${i + 1}` },
              h("p", {}, `Scope: ${t.scope} · expires ${new Date(t.exp * 1000).toLocaleString()}`),
              copyField(`Token ${i + 1}`, t.token),
              t.playerUrl ? copyField(`Player URL ${i + 1}`, t.playerUrl) : null,
              t.revocable
                ? h("button", { type: "button", class: "danger", "aria-label": `Revoke token ${i + 1}`, onclick: () => void revoke(t) }, "Revoke")
                : null,
            ),
          )
        : [h("p", {}, "No token issued in this tab yet.")]),
    );

  const pasted = h("input", { type: "text", name: "token", required: true, spellcheck: "false" });
  const revokeForm = h(
    "form",
    { class: "inline", "aria-label": "Revoke a token" },
    field("Token to revoke", pasted),
    h("button", { type: "submit", class: "danger" }, "Revoke token"),
  );
  revokeForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    api("/api/v1/splay/revoke", { method: "POST", json: { token: pasted.value.trim() } })
      .then(() => ((pasted.value = ""), (status.textContent = "Token revoked.")))
      .catch((err: Error) => (status.textContent = `Could not revoke: ${err.message}`));
  });

  draw();
  main.replaceChildren(
    h("h1", {}, "Playback tokens"),
    h(
      "p",
      {},
      info.playback.tokenRequired
        ? "This edge requires a token for every play."
        : "This edge does not require tokens (auth.playback.required is off); tokens still bind a player.",
    ),
    status,
    h("section", { "aria-labelledby": "issue-title" }, h("h2", { id: "issue-title" }, "Issue"), form),
    h("section", { "aria-labelledby": "issued-title" }, h("h2", { id: "issued-title" }, "Issued in this tab"), listBox),
    h("section", { "aria-labelledby": "revoke-title" }, h("h2", { id: "revoke-title" }, "Revoke any token"), revokeForm),
  );
};
