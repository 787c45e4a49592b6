// The README's section "The testbed" is what a contributor reads to bring up, or replace, the real
// components the integration tests use. Its component table must list what `npm run testbed -- up`
// accepts, and its table of overrides every variable a component reads instead of building or
// installing its piece: a component or variable the README leaves out is found only by reading code.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { componentNames, overrides } from "../testbed/index.ts";
import { versions } from "../testbed/paths.ts";
import { paragraphs } from "./markdown.ts";

/** The first cell of each README table row that names something in backticks, e.g. `kube`. */
function firstCells(): string[][] {
  return paragraphs("README.md")
    .filter((row) => row.startsWith("| `"))
    .map((row) => [...row.split("|")[1]!.matchAll(/`([^`]+)`/g)].map((match) => match[1]!));
}

describe("the README's testbed section", () => {
  it("its component table names every testbed component, and no other", () => {
    const components = new Set<string>(componentNames);
    const rows = firstCells().filter((cells) => cells.length === 1 && components.has(cells[0]!));
    // A row of the table, wherever its first cell is one of the names; then the table must be complete.
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.map((cells) => cells[0]).sort()).toEqual([...componentNames].sort());
  });

  it("its table of overrides names every variable a component reads", () => {
    const named = new Set(
      firstCells()
        .flat()
        .map((cell) => cell.replace(/=.*$/, "")),
    );
    const variables = Object.keys(overrides());
    expect(variables).toContain("JUDE_TESTBED_KUBECONFIG");
    expect(variables.filter((variable) => !named.has(variable))).toEqual([]);
  });

  it("every binary a component reads from the environment is a declared override", () => {
    // An undeclared one is missing from the table above and from `testbed --help`, and a provisioning
    // error that names only its sibling (JUDE_REDIS_SERVER_BIN without JUDE_REDIS_CLI_BIN) cannot be
    // followed: setting that one still fails the same way.
    const dir = "test/testbed/components";
    const read = readdirSync(dir)
      .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))
      .flatMap((file) => [
        ...readFileSync(`${dir}/${file}`, "utf8").matchAll(/process\.env\.(JUDE_\w+_BIN)\b/g),
      ])
      .map((match) => match[1]!);
    const declared = Object.keys(overrides());
    expect([...new Set(read)].filter((variable) => !declared.includes(variable))).toEqual([]);
  });

  it("its component table states the version the testbed builds or fetches of each tool", () => {
    const table = paragraphs("README.md")
      .filter(
        (row) => /^\| `[a-z-]+`/.test(row) && componentNames.some((name) => row.startsWith(`| \`${name}\``)),
      )
      .join("\n");
    const shown = Object.entries(versions).map(([tool, version]) =>
      // promtool is Debian's prometheus package, named by its upstream major.minor.
      tool === "prometheus" ? `promtool ${version.split(".").slice(0, 2).join(".")}` : version,
    );
    expect(shown.filter((version) => !table.includes(version))).toEqual([]);
  });
});
