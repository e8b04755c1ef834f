// Every configuration key is in the README's table (an undocumented knob is a hidden one).
import { readFileSync } from "node:fs";
import t from "tap";
import { ConfigSchema } from "../../src/config/schema.js";

type Node = { type?: string; properties?: Record<string, Node> };

function leaves(node: Node, path: string[] = []): string[] {
  if (node.type === "object" && node.properties) {
    return Object.entries(node.properties).flatMap(([k, v]) => leaves(v, [...path, k]));
  }
  return [path.join(".")];
}

t.test("README documents every config key", async (t) => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  for (const key of leaves(ConfigSchema as Node)) {
    const documented = readme.includes(`\`${key}\``) || (key.startsWith("rtmp.limits.") && readme.includes("`rtmp.limits.*`"));
    t.ok(documented, key);
    if (key.startsWith("rtmp.limits.")) t.ok(readme.includes(`\`${key}\``), `${key} in the limits table`);
  }
});
