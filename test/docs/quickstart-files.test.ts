// examples/quickstart/README.md lists "what `npm run quickstart` applies to the testbed, in this
// order": a reader copying the quickstart onto another cluster goes by that table, so it must name
// every file the quickstart applies, in the order it applies them, and every file of the folder.
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { quickstartExamplesDir, quickstartFiles } from "../../scripts/quickstart/manifests.ts";
import { paragraphs } from "./markdown.ts";

describe("examples/quickstart/README.md", () => {
  const listed = paragraphs("examples/quickstart/README.md")
    .map((row) => /^\| `([^`]+\.yaml)`/.exec(row)?.[1])
    .filter((file) => file !== undefined);

  it("lists the files the quickstart applies, in the order it applies them", () => {
    expect(listed).toEqual([...quickstartFiles]);
  });

  it("lists every file of the folder", () => {
    const files = readdirSync(quickstartExamplesDir).filter((file) => file.endsWith(".yaml"));
    expect([...listed].sort()).toEqual(files.sort());
  });
});
