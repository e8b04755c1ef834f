// Streams (issue 16 §2): list with state and tags, search, create, copy, lock / unlock / delete.
import { api, can, type StreamJson } from "../api.js";
import { confirmDialog, copyField, field, h, table } from "../dom.js";
import { onSnapshot } from "../live.js";
import type { Page } from "./ctx.js";

export const nameOf = (s: StreamJson) => s.ingest?.rtmp.streamname ?? s.playout.rtmp[0]?.streamname ?? s.id;

/** The stream's copyable addresses: OBS server and key, and the player URLs. */
export function streamAddresses(s: StreamJson): HTMLElement {
  return h(
    "div",
    { class: "addresses" },
    s.ingest ? copyField("OBS server", s.ingest.rtmp.url) : null,
    s.ingest ? copyField("Stream key", s.ingest.rtmp.streamname) : null,
    s.playout.flv?.[0] ? copyField("Player URL (HTTP-FLV)", s.playout.flv[0].url) : null,
    s.playout.rtmp[0] ? copyField("Player URL (RTMP)", `${s.playout.rtmp[0].url}/${s.playout.rtmp[0].streamname}`) : null,
  );
}

/** Lock / unlock / delete buttons for an admin; `done` runs after a change went through. */
export function streamActions(
  s: StreamJson,
  role: Parameters<typeof can>[0],
  done: (changed: StreamJson | null) => void,
  report: (msg: string) => void,
): HTMLElement[] {
  if (!can(role, "nanoAdmin")) return [];
  const name = nameOf(s);
  const act = async (what: "lock" | "unlock" | "delete") => {
    const ok = await confirmDialog(
      what === "delete"
        ? `Delete stream ${name}? Its key stops working for good and a running publisher is cut.`
        : what === "lock"
          ? `Lock stream ${name}? A running publisher is cut and the key refused until it is unlocked.`
          : `Unlock stream ${name}?`,
      what === "delete" ? "Delete" : what === "lock" ? "Lock" : "Unlock",
    );
    if (!ok) return;
    try {
      if (what === "delete") {
        await api(`/stream/${s.id}`, { method: "DELETE" });
        report(`Stream ${name} deleted.`);
        done(null);
      } else {
        const changed = await api<StreamJson>(`/stream/${s.id}/${what}`, { method: "PUT" });
        report(`Stream ${name} ${what}ed.`);
        done(changed);
      }
    } catch (err) {
      report(`Could not ${what} ${name}: ${(err as Error).message}`);
    }
  };
  const locked = s.state === "locked";
  return [
    h(
      "button",
      { type: "button", "aria-label": `${locked ? "Unlock" : "Lock"} ${name}`, onclick: () => void act(locked ? "unlock" : "lock") },
      locked ? "Unlock" : "Lock",
    ),
    h("button", { type: "button", class: "danger", "aria-label": `Delete ${name}`, onclick: () => void act("delete") }, "Delete"),
  ];
}

export const streamsPage: Page = async ({ info, main }) => {
  if (!info.embedded) {
    main.replaceChildren(h("h1", {}, "Streams"), h("p", {}, "This edge uses a remote bintu (bintu.mode: remote): manage streams there."));
    return;
  }
  const status = h("p", { role: "status", class: "status" });
  const search = h("input", { type: "search", name: "q", placeholder: "name or tag" });
  const listBox = h("div");
  const created = h("div", { class: "created" });
  let streams: StreamJson[] = [];

  const load = async () => {
    streams = await api<StreamJson[]>("/stream?quantity=500");
    draw();
  };
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = streams.filter((s) => !q || nameOf(s).toLowerCase().includes(q) || s.tags.some((t) => t.toLowerCase().includes(q)));
    const rows = shown.map((s) =>
      h(
        "tr",
        { "data-id": s.id },
        h("td", {}, h("a", { href: `#/stream/${s.id}` }, nameOf(s))),
        h("td", { class: "state", "data-state": s.state }, s.state),
        h("td", {}, s.tags.join(", ")),
        h("td", {}, new Date(s.created_at).toLocaleString()),
        h(
          "td",
          { class: "actions" },
          h(
            "button",
            {
              type: "button",
              "aria-label": `Copy stream key of ${nameOf(s)}`,
              onclick: () => void navigator.clipboard?.writeText(nameOf(s)).then(() => (status.textContent = "Stream key copied.")),
            },
            "Copy key",
          ),
          ...streamActions(
            s,
            info.role,
            () => void load(),
            (m) => (status.textContent = m),
          ),
        ),
      ),
    );
    listBox.replaceChildren(
      rows.length
        ? table(`Streams (${shown.length} of ${streams.length})`, ["Name", "State", "Tags", "Created", "Actions"], rows)
        : h("p", {}, streams.length ? "No stream matches the search." : "No streams yet."),
    );
  };
  search.addEventListener("input", draw);

  let createForm: HTMLElement | null = null;
  if (can(info.role, "nanoUser")) {
    const tags = h("input", { type: "text", name: "tags", placeholder: "e.g. sports, eu" });
    const form = h(
      "form",
      { class: "inline", "aria-label": "Create a stream" },
      field("Tags (comma-separated)", tags),
      h("button", { type: "submit" }, "Create stream"),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const list = tags.value
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean);
      api<StreamJson>("/stream", { method: "POST", json: { tags: list } })
        .then((s) => {
          tags.value = "";
          status.textContent = `Stream ${nameOf(s)} created.`;
          created.replaceChildren(
            h("h2", {}, `New stream ${nameOf(s)}`),
            streamAddresses(s),
            h("p", {}, h("a", { href: `#/stream/${s.id}` }, `Open ${nameOf(s)}`)),
          );
          return load();
        })
        .catch((err: Error) => (status.textContent = `Could not create the stream: ${err.message}`));
    });
    createForm = h("section", { "aria-labelledby": "create-title" }, h("h2", { id: "create-title" }, "New stream"), form, created);
  }

  await load();
  main.replaceChildren(
    h("h1", {}, "Streams"),
    status,
    createForm ?? "",
    h("section", { "aria-label": "Stream list" }, field("Search streams", search), listBox),
  );

  // Live state without a reload: states change in place, a stream made elsewhere reloads the list.
  return onSnapshot((snap) => {
    if (!snap.streams) return;
    let unknown = false;
    let changed = false;
    for (const st of snap.streams) {
      const s = streams.find((x) => x.id === st.id);
      if (!s) unknown = true;
      else if (s.state !== st.state) {
        s.state = st.state as StreamJson["state"];
        changed = true;
      }
    }
    if (changed && !unknown) draw();
    if (unknown) void load();
  });
};
