// Edges (issue 16 §7): the routing table with each edge's region, health, load and drain. In a
// fleet (issue 12) the router's table already holds the edges announced in the registry, so the
// same list is the fleet's; an admin drains or undrains any edge of it (PUT
// /v1/cluster/edges/:id/drain), which every router picks up with its next registry read (~1 s).
import { api, can } from "../api.js";
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
  announced: boolean;
}

export const edgesPage: Page = async ({ info, main }) => {
  const box = h("div");
  const status = h("p", { role: "status", class: "status" });
  const fleet = info.fleet;
  const admin = fleet !== null && can(info.role, "nanoAdmin");

  const setDrain = async (e: EdgeJson, drain: boolean) => {
    try {
      await api(`/v1/cluster/edges/${encodeURIComponent(e.id)}/drain`, { method: "PUT", json: { drain } });
      status.textContent = `${e.id} ${drain ? "drains: routers send it no new clients" : "takes new clients again"} (routers pick it up within a second or two).`;
      // The registry is read every second; the table shows the flag once this edge's router has it.
      setTimeout(() => void load().catch(() => undefined), 1500);
    } catch (err) {
      status.textContent = `Could not ${drain ? "drain" : "undrain"} ${e.id}: ${(err as Error).message}`;
    }
  };

  const load = async () => {
    const edges = await api<EdgeJson[]>("/v1/edges");
    const head = ["Edge", "Region", ...(fleet ? ["Source"] : []), "Health", "Sessions", "Egress Mbit/s", "CPU", "Load", "Drain", ...(admin ? ["Action"] : [])];
    box.replaceChildren(
      edges.length
        ? table(
            fleet ? `Fleet edges (${edges.length}): the routing table and the registry` : `Routing table (${edges.length} edges)`,
            head,
            edges.map((e) =>
              h(
                "tr",
                { "data-id": e.id },
                h("td", {}, fleet?.edgeId === e.id ? `${e.id} (this edge)` : e.id),
                h("td", {}, e.region),
                fleet ? h("td", {}, e.announced ? "announced" : "configured") : null,
                h("td", { "data-health": String(e.up) }, e.up === null ? "not probed" : e.up ? "up" : "down"),
                h("td", {}, e.load?.sessions ?? "—"),
                h("td", {}, e.load ? e.load.egressMbps.toFixed(1) : "—"),
                h("td", {}, e.load ? e.load.cpu.toFixed(2) : "—"),
                h("td", {}, e.loadRatio === null ? "—" : `${Math.round(e.loadRatio * 100)} %`),
                h("td", {}, e.drain ? "draining" : "no"),
                admin
                  ? h(
                      "td",
                      {},
                      h(
                        "button",
                        { type: "button", "aria-label": `${e.drain ? "Undrain" : "Drain"} ${e.id}`, onclick: () => void setDrain(e, !e.drain) },
                        e.drain ? "Undrain" : "Drain",
                      ),
                    )
                  : null,
              ),
            ),
          )
        : h("p", {}, fleet ? "No edge has announced itself yet." : "No routing table: this edge routes no clients (routing.edges is empty)."),
    );
  };
  await load();
  main.replaceChildren(h("h1", {}, "Edges"), fleet ? h("p", {}, `This edge is ${fleet.edgeId} in a fleet.`) : "", status, box);
  // Health and load change with the health checker's probes and the registry's reads: a slow refresh is enough.
  const timer = setInterval(() => void load().catch(() => undefined), 5000);
  return () => clearInterval(timer);
};
