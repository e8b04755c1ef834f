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

/** The chart as an image with a text summary: screen readers get the current figures, not the lines. */
export function drawChart(samples: Sample[], spanMs = 5 * 60_000): SVGSVGElement {
  const now = samples.at(-1)?.at ?? Date.now();
  const from = now - spanMs;
  const last = samples.at(-1);
  const maxKbps = Math.max(0, ...samples.map((s) => s.kbps));
  const label = last ? `Ingest ${Math.round(last.kbps)} kbit/s (peak ${Math.round(maxKbps)}), ${last.viewers} viewers` : "No samples yet";
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart", preserveAspectRatio: "none" });
  root.append(svg("rect", { x: 0, y: 0, width: W, height: H, class: "chart-bg" }));
  if (samples.length > 1) {
    root.append(
      line(samples, (s) => s.kbps, from, spanMs, "kbps"),
      line(samples, (s) => s.viewers, from, spanMs, "viewers"),
    );
  }
  const text = svg("text", { x: 6, y: 16, class: "chart-label" });
  text.textContent = label;
  root.append(text);
  return root;
}
