// The page's static files (plain HTML, CSS and JavaScript, no CDN, no build step). They sit beside this
// module in the source tree; a compiled copy (dist/) finds them through the package root.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The files the server hands out, by URL path, with their content types. */
export const assetFiles: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/render.js": { file: "render.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
  "/favicon.svg": { file: "favicon.svg", type: "image/svg+xml" },
};

/** The assets folder: beside this module, else under the package root's source tree. */
export function assetsDir(moduleDir = import.meta.dirname): string {
  const beside = join(moduleDir, "assets");
  if (existsSync(beside)) return beside;
  let folder = moduleDir;
  while (!existsSync(join(folder, "package.json")) && dirname(folder) !== folder) folder = dirname(folder);
  return join(folder, "cli", "kubectl-jude", "dashboard", "assets");
}

/** Reads every asset once (they are small), so a request never touches the disk. */
export function loadAssets(dir = assetsDir()): Map<string, { body: Buffer; type: string }> {
  return new Map(
    Object.entries(assetFiles).map(([path, asset]) => [
      path,
      { body: readFileSync(join(dir, asset.file)), type: asset.type },
    ]),
  );
}
