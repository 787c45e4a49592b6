// The README's Operator section is where a reader running `jude operator` by hand (or reading what the
// chart passes) learns its flags: it must name every flag the operator reads, so that none is found
// only in `jude operator --help` or the code.
import { describe, expect, it } from "vitest";
import { operatorConfigSchema } from "../../operator/config.ts";
import { readDocument } from "./markdown.ts";

describe("the README's Operator section", () => {
  it("names every flag of jude operator", () => {
    const readme = readDocument("README.md");
    const start = readme.indexOf("\n## Operator\n");
    const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
    const flags = Object.keys(operatorConfigSchema.shape).map(
      (field) => `--${field.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`,
    );
    expect(flags).toContain("--watch-stale-seconds");
    expect(flags.filter((flag) => !new RegExp(`\`${flag}[\`= ]`).test(section))).toEqual([]);
  });
});
