// The README's section "Layout" is the map of the repository a new reader starts from: every
// top-level folder of the checkout (hidden ones aside) must be on it, and nothing that is not there.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { codeBlocks, repoRoot } from "./markdown.ts";

/** Top-level folders that are not the project's own: installed, built or run-time state. */
const notTheProjects = new Set(["node_modules", "dist", "coverage", "test-artifacts", "tmp"]);

describe("the README's Layout section", () => {
  it("names every top-level folder of the repository, and no other", () => {
    const block = codeBlocks("README.md").find((each) => each.heading === "Layout");
    expect(block).toBeDefined();
    const shown = [...block!.text.matchAll(/^([a-z][a-z0-9-]*)\/\s/gm)].map((match) => match[1]!).sort();
    const folders = readdirSync(repoRoot)
      .filter((entry) => !entry.startsWith(".") && !notTheProjects.has(entry))
      .filter((entry) => statSync(join(repoRoot, entry)).isDirectory())
      .sort();
    expect(shown).toEqual(folders);
  });
});
