// Builds the web dashboard (issue 16) into dist/dashboard/: esbuild bundles web/main.ts with code
// splitting, so the player library (web/player.ts → mpegts.js) becomes a chunk loaded only by the
// stream page. File names carry a content hash (served as immutable by src/http/dashboard-routes.ts);
// index.html is written with the entry's name. Prints each file's gzip size.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const out = "dist/dashboard";
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await build({
  entryPoints: ["web/main.ts"],
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  target: "es2022",
  outdir: out,
  entryNames: "[name]-[hash]",
  chunkNames: "chunk-[hash]",
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
});

const css = readFileSync("web/style.css");
const cssName = `style-${createHash("sha256").update(css).digest("hex").slice(0, 8)}.css`;
writeFileSync(join(out, cssName), css);

const entry = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint === "web/main.ts");
if (!entry) throw new Error("esbuild wrote no entry for web/main.ts");
const html = readFileSync("web/index.html", "utf8")
  .replace('href="STYLE"', `href="${cssName}"`)
  .replace('src="SCRIPT"', `src="${basename(entry[0])}"`);
writeFileSync(join(out, "index.html"), html);

for (const name of readdirSync(out).sort()) {
  const body = readFileSync(join(out, name));
  console.log(`dashboard ${name.padEnd(28)} ${String(body.length).padStart(8)} B  ${String(gzipSync(body).length).padStart(7)} B gzip`);
}
