// A few DOM helpers instead of a framework: the pages are forms and tables, and the whole
// initial script stays a few kilobytes (issue 16 §10 allows 150 KB).
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

/** An element with attributes (`on…` keys become listeners; `false`/null/undefined are left out) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === "function") el.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "number" ? String(child) : child);
  }
  return el;
}

let fieldIds = 0;

/** A labelled form field: the label names the control, so tests and screen readers find it by name. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  control.id ||= `f${++fieldIds}`;
  const hintId = hint ? `${control.id}-hint` : undefined;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hint ? h("small", { id: hintId }, hint) : null);
}

export function select(name: string, options: [value: string, label: string][], value?: string): HTMLSelectElement {
  return h("select", { name }, ...options.map(([v, l]) => h("option", { value: v, selected: v === value }, l)));
}

/** A table that scrolls sideways on a narrow screen instead of widening the page. */
export function table(caption: string, head: string[], rows: Node[]): HTMLElement {
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": caption, tabindex: 0 },
    h("table", {}, h("caption", {}, caption), h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, ...rows)),
  );
}

/** Copies to the clipboard where the page may (a secure context); otherwise selects the text for Ctrl+C. */
export async function copyText(text: string, source?: HTMLInputElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    source?.select();
    return false;
  }
}

/** A read-only value with a Copy button, e.g. the OBS server or a player URL. */
export function copyField(label: string, value: string): HTMLElement {
  const input = h("input", { type: "text", readonly: true, value, spellcheck: "false" });
  const status = h("span", { class: "copied", role: "status" });
  const button = h("button", { type: "button", "aria-label": `Copy ${label}` }, "Copy");
  button.addEventListener("click", () => {
    void copyText(value, input).then((ok) => (status.textContent = ok ? "Copied" : "Selected: press Ctrl+C"));
  });
  return h("div", { class: "field copy" }, field(label, input), button, status);
}

/** Asks before a change that cannot be taken back; a native <dialog> keeps focus and Escape working. */
export function confirmDialog(message: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { "aria-label": "Confirm" },
      h("p", {}, message),
      h("form", { method: "dialog" }, h("button", { value: "cancel" }, "Cancel"), " ", h("button", { value: "ok", class: "danger" }, confirmLabel)),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(fromIso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(fromIso)) / 1000));
  const hms = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  return hms[0] > 0 ? `${hms[0]}h ${hms[1]}m` : hms[1] > 0 ? `${hms[1]}m ${hms[2]}s` : `${hms[2]}s`;
}
