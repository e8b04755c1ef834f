// The dashboard's entry (issue 16): sign-in, the page frame and a hash router. Each page module
// draws into <main> and returns what to undo when the page is left; only the stream page loads
// the player library, by a dynamic import in pages/stream.ts.
import { api, ApiError, can, storeKey, storedKey, type Info } from "./api.js";
import { h } from "./dom.js";
import { connectLive } from "./live.js";
import type { Ctx, Page } from "./pages/ctx.js";
import { streamsPage } from "./pages/streams.js";
import { streamPage } from "./pages/stream.js";
import { sessionsPage } from "./pages/sessions.js";
import { guardianPage } from "./pages/guardian.js";
import { tokensPage } from "./pages/tokens.js";
import { edgesPage } from "./pages/edges.js";
import { peoplePage } from "./pages/people.js";

const ROLE_TEXT = { nanoAdmin: "admin", nanoUser: "user", nanoReadOnly: "read-only" } as const;

const root = document.getElementById("app") as HTMLElement;

function signInForm(message?: string) {
  const input = h("input", { id: "api-key", name: "apiKey", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const error = h("p", { id: "signin-error", class: "error", role: "alert" }, message ?? "");
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "bintu-edge dashboard"),
    h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), input),
    button,
    error,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    button.disabled = true;
    error.textContent = "";
    const key = input.value.trim();
    api<Info>("/v1/dashboard/info", { key })
      .then((info) => {
        storeKey(key);
        start(info);
      })
      .catch((err: unknown) => {
        button.disabled = false;
        error.textContent =
          err instanceof ApiError && err.status === 401
            ? "Sign-in failed: this API key is not valid. Check the key (the organisation key or one an admin gave you) and try again."
            : `Sign-in failed: ${err instanceof Error ? err.message : String(err)}`;
        input.focus();
      });
  });
  root.replaceChildren(h("main", { id: "main" }, form));
  input.focus();
}

const PAGES: { path: string; title: string; page: Page; min?: Info["role"] }[] = [
  { path: "streams", title: "Streams", page: streamsPage },
  { path: "sessions", title: "Sessions", page: sessionsPage },
  { path: "guardian", title: "Guardian", page: guardianPage },
  { path: "tokens", title: "Tokens", page: tokensPage, min: "nanoUser" },
  { path: "edges", title: "Edges", page: edgesPage },
  { path: "people", title: "People", page: peoplePage, min: "nanoAdmin" },
];

let stopLive: (() => void) | null = null;

function signOut(message?: string) {
  stopLive?.();
  stopLive = null;
  storeKey(null);
  // The router stops first: a page still loading with the old key would sign out a second time.
  window.onhashchange = null;
  location.hash = "";
  signInForm(message);
}

function start(info: Info) {
  const visible = PAGES.filter((p) => !p.min || can(info.role, p.min));
  const main = h("main", { id: "main", tabindex: -1 });
  const links = visible.map((p) => h("a", { href: `#/${p.path}` }, p.title));
  const header = h(
    "header",
    {},
    h("a", { class: "skip", href: "#main", onclick: (ev: Event) => (ev.preventDefault(), main.focus()) }, "Skip to content"),
    h("span", { class: "brand" }, "bintu-edge"),
    h("nav", { "aria-label": "Dashboard" }, h("ul", {}, ...links.map((a) => h("li", {}, a)))),
    h("span", { class: "role", "data-role": info.role }, `Role: ${info.role} (${ROLE_TEXT[info.role]})`),
    h("button", { type: "button", onclick: () => signOut() }, "Sign out"),
  );
  root.replaceChildren(header, main);
  const ctx: Ctx = { info, main, navigate: (hash) => (location.hash = hash) };

  let cleanup: (() => void) | void;
  let turn = 0;
  const route = async () => {
    const mine = ++turn;
    cleanup?.();
    cleanup = undefined;
    const [path, arg] = location.hash.replace(/^#\/?/, "").split("/");
    const entry = path === "stream" ? null : (visible.find((p) => p.path === path) ?? visible[0]);
    for (const a of links) a.toggleAttribute("aria-current", a.getAttribute("href") === `#/${entry?.path ?? "streams"}`);
    main.replaceChildren(h("p", { role: "status" }, "Loading…"));
    try {
      const page = entry ? entry.page : streamPage;
      document.title = `${entry?.title ?? "Stream"} · bintu-edge`;
      const undo = await page(ctx, decodeURIComponent(arg ?? ""));
      if (mine === turn) cleanup = undo;
      else undo?.();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return signOut("Your API key is no longer accepted: sign in again.");
      main.replaceChildren(h("p", { class: "error", role: "alert" }, `Could not load this page: ${err instanceof Error ? err.message : String(err)}`));
    }
  };
  window.onhashchange = () => void route();
  void route();
  stopLive = connectLive(() => signOut("Your API key was revoked: sign in with another key."));
}

const key = storedKey();
if (key === null) signInForm();
else
  api<Info>("/v1/dashboard/info")
    .then(start)
    .catch(() => signOut());
