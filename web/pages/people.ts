// People (issue 16 §8), for an admin: API keys with a role for colleagues, shown once, revocable.
// The organisation key stays the admin key and is not listed here.
import { api } from "../api.js";
import { copyField, field, h, select, table } from "../dom.js";
import type { Page } from "./ctx.js";

interface PersonKey {
  id: string;
  role: "nanoUser" | "nanoReadOnly";
  label: string;
  createdAt: string;
}

export const peoplePage: Page = async ({ main }) => {
  const status = h("p", { role: "status", class: "status" });
  const shown = h("div");
  const listBox = h("div");
  const load = async () => {
    const keys = await api<PersonKey[]>("/v1/keys");
    listBox.replaceChildren(
      keys.length
        ? table(
            `People's keys (${keys.length})`,
            ["Label", "Role", "Created", "Action"],
            keys.map((k) =>
              h(
                "tr",
                {},
                h("td", {}, k.label),
                h("td", {}, k.role),
                h("td", {}, new Date(k.createdAt).toLocaleString()),
                h("td", {}, h("button", { type: "button", class: "danger", "aria-label": `Revoke key ${k.label}`, onclick: () => void revoke(k) }, "Revoke")),
              ),
            ),
          )
        : h("p", {}, "No keys for people yet."),
    );
  };
  const revoke = (k: PersonKey) =>
    api(`/v1/keys/${k.id}`, { method: "DELETE" })
      .then(() => ((status.textContent = `Key ${k.label} revoked: its pages are signed out.`), load()))
      .catch((err: Error) => (status.textContent = `Could not revoke: ${err.message}`));

  const label = h("input", { type: "text", name: "label", required: true, maxlength: 128, placeholder: "e.g. Ana (support)" });
  const role = select("role", [
    ["nanoReadOnly", "nanoReadOnly: sees everything, changes nothing"],
    ["nanoUser", "nanoUser: creates streams, rules and tokens"],
  ]);
  const form = h(
    "form",
    { class: "inline", "aria-label": "Create an API key" },
    field("Label", label),
    field("Role", role),
    h("button", { type: "submit" }, "Create key"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    api<PersonKey & { key: string }>("/v1/keys", { method: "POST", json: { label: label.value, role: role.value } })
      .then((k) => {
        label.value = "";
        shown.replaceChildren(
          h("p", { class: "warn" }, `Key for ${k.label} (${k.role}). It is shown only now: copy it and hand it over.`),
          copyField("New API key", k.key),
        );
        return load();
      })
      .catch((err: Error) => (status.textContent = `Could not create the key: ${err.message}`));
  });

  await load();
  main.replaceChildren(
    h("h1", {}, "People"),
    h("p", {}, "The organisation key is the admin key. Keys made here have the role chosen, are stored hashed, and can be revoked."),
    status,
    h("section", { "aria-labelledby": "new-key-title" }, h("h2", { id: "new-key-title" }, "New key"), form, shown),
    listBox,
  );
};
