// Ingest bitrate and viewer count as a small SVG line chart (issue 16 §3): two series over the
// samples the live updates recorded (web/live.ts), each scaled to its own maximum.
import type { Sample } from "./live.js";

const W = 600;
const H = 160;
const NS = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function line(samples: Sample[], value: (s: Sample) => number, from: number, spanMs: number, cls: string): SVGPolylineElement {
  const max = Math.max(1, ...samples.map(value));
  const points = samples.map((s) => `${(((s.at - from) / spanMs) * W).toFixed(1)},${(H - 4 - (value(s) / max) * (H - 24)).toFixed(1)}`).join(" ");
  return svg("polyline", { points, class: cls, fill: "none" });
}

/** The chart under a text summary: screen readers get the current figures, not the lines. */
export function drawChart(samples: Sample[], maxSpanMs = 5 * 60_000): HTMLElement {
  const now = samples.at(-1)?.at ?? Date.now();
  // A young stream fills the width too: the span grows from one minute to the maximum.
  const spanMs = Math.min(maxSpanMs, Math.max(60_000, now - (samples[0]?.at ?? now)));
  const from = now - spanMs;
  const last = samples.at(-1);
  const maxKbps = Math.max(0, ...samples.map((s) => s.kbps));
  const label = last
    ? `Ingest ${Math.round(last.kbps)} kbit/s (peak ${Math.round(maxKbps)}), ${last.viewers} ${last.viewers === 1 ? "viewer" : "viewers"}`
    : "No samples yet";
  // Stretched to the page's width: lines scale, so the text lives outside the SVG.
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, "aria-hidden": "true", class: "chart", preserveAspectRatio: "none" });
  root.append(svg("rect", { x: 0, y: 0, width: W, height: H, class: "chart-bg" }));
  if (samples.length > 1) {
    root.append(
      line(samples, (s) => s.kbps, from, spanMs, "kbps"),
      line(samples, (s) => s.viewers, from, spanMs, "viewers"),
    );
  }
  const text = document.createElement("p");
  text.className = "chart-label";
  text.textContent = label;
  const box = document.createElement("div");
  box.append(text, root);
  return box;
}
