// Files the documentation cites, as proof ("tested in `test/e2e/helm.test.ts`") or as where to read
// on (`store/layout.ts`, a link to `pipelines/bootstrap/README.md`): each must be in the repository. A
// test renamed or moved and not in the README leaves a claim whose proof a reader cannot find.
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { documentationFiles, readDocument, repoRoot } from "./markdown.ts";

/** The repository's own top-level folders: a cited path starting with one of them is the project's. */
const topFolders = new Set(
  readdirSync(repoRoot).filter(
    (entry) =>
      !entry.startsWith(".") &&
      !["node_modules", "dist", "coverage", "test-artifacts", "tmp"].includes(entry) &&
      statSync(join(repoRoot, entry)).isDirectory(),
  ),
);

/** Every file name under `dir`, recursively (node_modules aside). */
function fileNames(dir: string): string[] {
  return readdirSync(join(repoRoot, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    if (entry === "node_modules" || entry.startsWith(".")) return [];
    return statSync(join(repoRoot, path)).isDirectory() ? fileNames(path) : [entry];
  });
}

/** Paths cited in backticks or as Markdown links, with the files citing each. */
function cited(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const add = (path: string, file: string) =>
    found.set(path, [...new Set([...(found.get(path) ?? []), file])]);
  for (const file of documentationFiles) {
    const text = readDocument(file);
    for (const match of text.matchAll(/`([A-Za-z0-9_][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9_.-]+)*\/?)`/g))
      add(match[1]!, file);
    for (const match of text.matchAll(/\]\(([^)#\s:]+)(?:#[^)]*)?\)/g)) add(match[1]!, file);
  }
  return found;
}

describe("paths cited in the documentation", () => {
  const paths = cited();

  it("every repository path exists (from the root, or from the citing file's folder)", () => {
    const missing: string[] = [];
    for (const [path, files] of paths) {
      if (!path.includes("/") || !topFolders.has(path.split("/")[0]!)) continue;
      // The README names the integration lane's files as the lane list does: `operator/upgrade`.
      const found = (file: string) =>
        existsSync(join(repoRoot, path)) ||
        existsSync(join(repoRoot, dirname(file), path)) ||
        existsSync(join(repoRoot, "test/integration", `${path}.test.ts`));
      for (const file of files) if (!found(file)) missing.push(`${path} (${file})`);
    }
    expect(paths.has("test/e2e/helm.test.ts")).toBe(true);
    expect(missing).toEqual([]);
  });

  it("every test file cited by its name alone exists", () => {
    const names = new Set([...[...topFolders].flatMap(fileNames)]);
    const missing = [...paths]
      .filter(([path]) => /^[A-Za-z0-9_.-]+\.test\.ts$/.test(path) && !names.has(path))
      .map(([path, files]) => `${path} (${files.join(", ")})`);
    expect(paths.has("promotion.test.ts")).toBe(true);
    expect(missing).toEqual([]);
  });
});
