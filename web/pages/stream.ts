// A stream's page (issue 16 §3): its addresses, a live preview, ingest bitrate and viewers over the
// last minutes, its sessions with kick, and lock / unlock / delete. The player library is loaded
// here, by a dynamic import, and nowhere else.
import { api, can, type StreamJson } from "../api.js";
import { drawChart } from "../chart.js";
import { h } from "../dom.js";
import { onSnapshot, samplesOf, seedHistory, type Sample } from "../live.js";
import type { Preview } from "../player.js";
import type { Page } from "./ctx.js";
import { sessionsTable } from "./sessions.js";
import { nameOf, streamActions, streamAddresses } from "./streams.js";

export const streamPage: Page = async ({ info, main, navigate }, id) => {
  let stream = await api<StreamJson>(`/stream/${encodeURIComponent(id)}`);
  const name = nameOf(stream);
  // The minutes before this tab was watching come from the edge.
  const { samples } = await api<{ samples: Sample[] }>(`/v1/samples?stream=${encodeURIComponent(name)}`);
  seedHistory(name, samples);
  const status = h("p", { role: "status", class: "status" });
  const state = h("span", { class: "state", "data-state": stream.state }, stream.state);
  const actions = h("span", { class: "actions" });
  const video = h("video", { muted: true, playsinline: true, controls: true, "aria-label": `Live preview of ${name}` });
  const previewStatus = h("p", { role: "status", id: "preview-status" }, "Preview stopped.");
  const toggle = h("button", { type: "button" }, "Start preview");
  const chartBox = h("figure", { class: "chart-box" });
  const sessionsBox = h("div");
  let preview: Preview | null = null;

  const drawActions = () =>
    actions.replaceChildren(
      ...streamActions(
        stream,
        info.role,
        (changed) => {
          if (!changed) return navigate("#/streams");
          stream = changed;
          setState(changed.state);
          drawActions();
        },
        (m) => (status.textContent = m),
      ),
    );
  const setState = (s: string) => {
    state.textContent = s;
    state.dataset.state = s;
  };

  /** The player URL, with a short-lived token when the edge requires one and the role may issue it. */
  async function playUrl(): Promise<string | null> {
    const flv = stream.playout.flv?.[0]?.url;
    if (!flv) return null;
    if (!info.playback.tokenRequired) return flv;
    if (!can(info.role, "nanoUser")) {
      previewStatus.textContent = "This edge requires playback tokens, and a read-only key cannot issue one: no preview.";
      return null;
    }
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const { data } = await api<{ data: { token: string } }>("/api/v1/splay", { method: "POST", json: { streams: [name], exp } });
    return `${flv}?jwtoken=${encodeURIComponent(data.token)}`;
  }

  async function start() {
    if (preview) return;
    toggle.disabled = true;
    try {
      const url = await playUrl();
      if (!url) return;
      const { startPreview } = await import("../player.js");
      previewStatus.textContent = "Preview playing.";
      toggle.textContent = "Stop preview";
      preview = startPreview(video, url, (why) => {
        preview = null;
        toggle.textContent = "Start preview";
        previewStatus.textContent = why === "stopped" ? "Preview stopped." : `Preview ended: ${why}.`;
      });
    } catch (err) {
      previewStatus.textContent = `Preview failed: ${(err as Error).message}`;
    } finally {
      toggle.disabled = false;
    }
  }
  toggle.addEventListener("click", () => (preview ? preview.stop() : void start()));

  drawActions();
  main.replaceChildren(
    h("p", {}, h("a", { href: "#/streams" }, "← Streams")),
    h("h1", {}, `Stream ${name}`),
    h("p", {}, "State: ", state, " · Tags: ", stream.tags.join(", ") || "none", " ", actions),
    status,
    streamAddresses(stream),
    h(
      "section",
      { "aria-labelledby": "preview-title", class: "preview" },
      h("h2", { id: "preview-title" }, "Live preview"),
      video,
      h("div", {}, toggle),
      previewStatus,
    ),
    h("section", { "aria-labelledby": "chart-title" }, h("h2", { id: "chart-title" }, "Ingest bitrate and viewers, last 5 minutes"), chartBox),
    h("section", { "aria-labelledby": "stream-sessions-title" }, h("h2", { id: "stream-sessions-title" }, "Sessions of this stream"), sessionsBox),
  );
  if (stream.state === "live") void start();

  const unsubscribe = onSnapshot((snap) => {
    const now = snap.streams?.find((s) => s.id === stream.id)?.state;
    if (now && now !== stream.state) {
      // Going live starts the preview; the stream leaving live ends it on its own.
      const wentLive = now === "live";
      stream = { ...stream, state: now as StreamJson["state"] };
      setState(now);
      drawActions();
      if (wentLive) void api<StreamJson>(`/stream/${stream.id}`).then((s) => ((stream = s), start()));
    }
    chartBox.replaceChildren(drawChart(samplesOf(name)), h("figcaption", {}, "Blue: ingest kbit/s · Orange: viewers"));
    sessionsBox.replaceChildren(
      sessionsTable(
        "Sessions",
        snap.sessions.filter((s) => s.stream === name),
        info.role,
        (m) => (status.textContent = m),
      ),
    );
  });
  return () => {
    unsubscribe();
    preview?.stop();
  };
};
