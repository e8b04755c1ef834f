// Guardian (issue 16 §5): the rules with kind, value, scope, mode and expiry; add and delete; what
// report-mode rules would have refused (counts, and the latest requests); whether new rules cut
// running sessions (guardian.enforceOnActive, or the rule's own).
import { api, can } from "../api.js";
import { field, h, select, table } from "../dom.js";
import type { Page } from "./ctx.js";

interface RuleJson {
  id: string;
  kind: "ip" | "referer" | "country";
  value: string;
  type: "deny" | "allow";
  actions: string[];
  scope: { stream?: string; tag?: string };
  mode: "enforce" | "report";
  enforceOnActive: boolean;
  info?: string;
  tag?: string;
  expiresAt: string | null;
  source: "api" | "file";
}

interface WouldDenyJson {
  at: string;
  ruleId: string;
  kind: string;
  value: string;
  action: string;
  protocol?: string;
  ip: string;
  stream: string;
}

const VALUE_FIELD = { ip: "ip", referer: "domain", country: "country" } as const;
const VALUE_LABEL = { ip: "IP address or CIDR", referer: "Referrer domain", country: "Country code" } as const;

const scopeText = (r: RuleJson) => (r.scope.stream ? `stream ${r.scope.stream}` : r.scope.tag ? `tag ${r.scope.tag}` : "organisation");

export const guardianPage: Page = async ({ info, main }) => {
  const status = h("p", { role: "status", class: "status" });
  const listBox = h("div");
  const writer = can(info.role, "nanoUser");

  const load = async () => {
    const rules = await api<RuleJson[]>("/guardian");
    const rows = rules.map((r) =>
      h(
        "tr",
        { "data-id": r.id },
        h("td", {}, r.kind),
        h("td", {}, r.value),
        h("td", {}, r.type),
        h("td", {}, r.actions.join(", ")),
        h("td", {}, scopeText(r)),
        h("td", {}, r.mode),
        h("td", {}, r.enforceOnActive ? "yes" : "no"),
        h("td", {}, r.expiresAt ? new Date(r.expiresAt).toLocaleString() : "never"),
        h("td", {}, r.source === "file" ? "rules file" : "API"),
        writer
          ? h(
              "td",
              {},
              r.source === "api"
                ? h("button", { type: "button", class: "danger", "aria-label": `Delete rule ${r.kind} ${r.value}`, onclick: () => void remove(r) }, "Delete")
                : "edit the file",
            )
          : null,
      ),
    );
    listBox.replaceChildren(
      rows.length
        ? table(
            `Rules (${rules.length})`,
            ["Kind", "Value", "Type", "Actions", "Scope", "Mode", "Ends running", "Expires", "Source", ...(writer ? ["Action"] : [])],
            rows,
          )
        : h("p", {}, "No rules."),
    );
  };
  const remove = async (r: RuleJson) => {
    try {
      await api(`/guardian/${r.kind}/${encodeURIComponent(r.id)}`, { method: "DELETE" });
      status.textContent = `Rule ${r.kind} ${r.value} deleted.`;
      await load();
    } catch (err) {
      status.textContent = `Could not delete the rule: ${(err as Error).message}`;
    }
  };

  const wouldDeny = info.guardian.wouldDeny.filter((w) => w.count > 0);
  const recentBox = h("div");
  // The last would-denies (GET /v1/guardian/would-deny): whom a report-mode rule would hit if enforced.
  const loadRecent = async () => {
    const { capacity, recorded, events } = await api<{ capacity: number; recorded: number; events: WouldDenyJson[] }>("/v1/guardian/would-deny");
    recentBox.replaceChildren(
      events.length
        ? table(
            `Latest requests report-mode rules would have refused (${events.length} of ${recorded}; the edge keeps the last ${capacity})`,
            ["Time", "Rule", "Action", "Protocol", "Address", "Stream"],
            events.map((e) =>
              h(
                "tr",
                {},
                h("td", {}, new Date(e.at).toLocaleTimeString()),
                h("td", { title: e.ruleId }, `${e.kind} ${e.value}`),
                h("td", {}, e.action),
                h("td", {}, e.protocol ?? "—"),
                h("td", {}, e.ip),
                h("td", {}, e.stream),
              ),
            ),
          )
        : h("p", {}, "No request would have been refused by a report-mode rule since the edge started."),
    );
  };
  const report = h(
    "section",
    { "aria-labelledby": "report-title" },
    h("h2", { id: "report-title" }, "Report-mode rules"),
    wouldDeny.length
      ? table(
          "Requests report-mode rules would have refused (since the edge started)",
          ["Action", "Kind", "Count"],
          wouldDeny.map((w) => h("tr", {}, h("td", {}, w.action), h("td", {}, w.kind), h("td", {}, w.count))),
        )
      : "",
    h("p", {}, "Streams are shown by their log reference (ref:…), never by the stream key."),
    h("button", { type: "button", onclick: () => void loadRecent() }, "Refresh would-denies"),
    recentBox,
  );

  await Promise.all([load(), loadRecent()]);
  main.replaceChildren(
    h("h1", {}, "Guardian"),
    h(
      "p",
      {},
      info.guardian.enforceOnActive
        ? "New deny rules also cut running sessions they match (guardian.enforceOnActive is on)."
        : "New rules apply to new connections only (guardian.enforceOnActive is off), unless added with “End running sessions it refuses”.",
    ),
    status,
    writer ? addForm(status, load, info.guardian.enforceOnActive) : "",
    listBox,
    report,
  );
};

function addForm(status: HTMLElement, reload: () => Promise<void>, enforceOnActive: boolean): HTMLElement {
  const kind = select("kind", [
    ["ip", "IP / CIDR"],
    ["referer", "Referrer"],
    ["country", "Country"],
  ]);
  const value = h("input", { type: "text", name: "value", required: true, placeholder: "203.0.113.0/24" });
  const valueField = field(VALUE_LABEL.ip, value);
  kind.addEventListener("change", () => {
    const k = kind.value as keyof typeof VALUE_LABEL;
    (valueField.querySelector("label") as HTMLLabelElement).textContent = VALUE_LABEL[k];
    value.placeholder = k === "ip" ? "203.0.113.0/24" : k === "referer" ? "example.com" : "DE";
  });
  const type = select("type", [
    ["deny", "Deny"],
    ["allow", "Allow"],
  ]);
  const mode = select("mode", [
    ["enforce", "Enforce"],
    ["report", "Report only"],
  ]);
  const play = h("input", { type: "checkbox", name: "play", checked: true, id: "rule-play" });
  const publish = h("input", { type: "checkbox", name: "publish", id: "rule-publish" });
  const scopeKind = select("scopeKind", [
    ["org", "Whole organisation"],
    ["stream", "One stream"],
    ["tag", "Streams with a tag"],
  ]);
  const scopeValue = h("input", { type: "text", name: "scopeValue", placeholder: "stream name or tag" });
  const ttl = h("input", { type: "number", name: "ttlMinutes", min: 0, step: 1, placeholder: "default" });
  // Checked and fixed when the edge-wide flag is on: every new rule then cuts running sessions anyway.
  const onActive = h("input", { type: "checkbox", name: "enforceOnActive", id: "rule-on-active", checked: enforceOnActive, disabled: enforceOnActive });
  const form = h(
    "form",
    { class: "grid", "aria-label": "Add a Guardian rule" },
    field("Kind", kind),
    valueField,
    field("Type", type),
    field("Mode", mode),
    h("fieldset", {}, h("legend", {}, "Applies to"), h("label", { for: "rule-play" }, play, " Play"), h("label", { for: "rule-publish" }, publish, " Publish")),
    field("Scope", scopeKind),
    field("Stream name or tag", scopeValue, "for a stream or tag scope"),
    field("Expires after (minutes)", ttl, "empty: the default (IP rules 24 h), 0: never"),
    h("label", { for: "rule-on-active", class: "check" }, onActive, " End running sessions it refuses"),
    h("button", { type: "submit" }, "Add rule"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const k = kind.value as keyof typeof VALUE_FIELD;
    const actions = [play.checked && "play", publish.checked && "publish"].filter(Boolean);
    const body: Record<string, unknown> = { [VALUE_FIELD[k]]: value.value.trim(), type: type.value, mode: mode.value, actions };
    if (scopeKind.value === "stream") body.stream = scopeValue.value.trim();
    if (scopeKind.value === "tag") body.tagScope = scopeValue.value.trim();
    if (ttl.value !== "") body.ttlSeconds = Math.round(Number(ttl.value) * 60);
    if (onActive.checked && !enforceOnActive) body.enforceOnActive = true;
    api(`/guardian/${k}`, { method: "POST", json: body })
      .then(() => {
        value.value = "";
        const cuts = onActive.checked && type.value === "deny" && mode.value === "enforce";
        status.textContent = `Rule added${cuts ? "; running sessions it refuses were cut" : ""}.`;
        return reload();
      })
      .catch((err: Error) => (status.textContent = `Could not add the rule: ${err.message}`));
  });
  return h("section", { "aria-labelledby": "add-rule-title" }, h("h2", { id: "add-rule-title" }, "Add a rule"), form);
}
