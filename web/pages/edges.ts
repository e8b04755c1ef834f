// Edges (issue 16 §7): the routing table with each edge's region, health, load and drain.
import { api } from "../api.js";
import { h, table } from "../dom.js";
import type { Page } from "./ctx.js";

interface EdgeJson {
  id: string;
  region: string;
  api: string;
  drain: boolean;
  up: boolean | null;
  load: { sessions: number; egressMbps: number; cpu: number } | null;
  loadRatio: number | null;
}

export const edgesPage: Page = async ({ main }) => {
  const box = h("div");
  const load = async () => {
    const edges = await api<EdgeJson[]>("/v1/edges");
    box.replaceChildren(
      edges.length
        ? table(
            `Routing table (${edges.length} edges)`,
            ["Edge", "Region", "Health", "Sessions", "Egress Mbit/s", "CPU", "Load", "Drain"],
            edges.map((e) =>
              h(
                "tr",
                {},
                h("td", {}, e.id),
                h("td", {}, e.region),
                h("td", { "data-health": String(e.up) }, e.up === null ? "not probed" : e.up ? "up" : "down"),
                h("td", {}, e.load?.sessions ?? "—"),
                h("td", {}, e.load ? e.load.egressMbps.toFixed(1) : "—"),
                h("td", {}, e.load ? e.load.cpu.toFixed(2) : "—"),
                h("td", {}, e.loadRatio === null ? "—" : `${Math.round(e.loadRatio * 100)} %`),
                h("td", {}, e.drain ? "draining" : "no"),
              ),
            ),
          )
        : h("p", {}, "No routing table: this edge routes no clients (routing.edges is empty)."),
    );
  };
  await load();
  main.replaceChildren(h("h1", {}, "Edges"), box);
  // Health and load change with the health checker's probes: a slow refresh is enough.
  const timer = setInterval(() => void load().catch(() => undefined), 5000);
  return () => clearInterval(timer);
};
