// What a BootstrapRun lets change after it is created, stated in the CRD (fields without an
// immutability rule) and in the README (what reaches a running Job, what a finished run ignores). A
// field left out of the README's lists sends a reader to delete and recreate a run for an edit the
// operator would have passed on.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { readDocument } from "./markdown.ts";

interface SpecSchema {
  properties: Record<string, unknown>;
  "x-kubernetes-validations"?: { rule: string; fieldPath?: string }[];
}

const crd = parse(readDocument("crds/generated/bootstrapruns.jude.dev.yaml")) as {
  spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: SpecSchema } } } }[] };
};
const spec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec;
const immutable = new Set(
  (spec["x-kubernetes-validations"] ?? [])
    .filter((validation) => validation.rule.includes("oldSelf") && validation.fieldPath !== undefined)
    .map((validation) => validation.fieldPath!.replace(/^\./, "")),
);
const mutable = Object.keys(spec.properties)
  .filter((field) => !immutable.has(field))
  .sort();

/** The spec fields a README phrase names: in backticks, and "the time limits" for the two of them. */
function fieldsNamed(phrase: string): string[] {
  const named = [...phrase.matchAll(/`(\w+)`/g)].map((match) => match[1]!);
  if (/time\s+limits/.test(phrase)) named.push("activeDeadlineSeconds", "ttlSecondsAfterFinished");
  return named.sort();
}

describe("BootstrapRun edits in the README", () => {
  const readme = readDocument("README.md");

  it("the CRD leaves the Job's controls mutable, and only them", () => {
    expect(mutable).toEqual(["activeDeadlineSeconds", "backoffLimit", "suspend", "ttlSecondsAfterFinished"]);
  });

  it("names every mutable field as passed on to a running Job", () => {
    const phrase = /after the Job exists only ([^]*?) are passed on/.exec(readme)?.[1];
    expect(phrase, "README.md: 'after the Job exists only … are passed on'").toBeDefined();
    expect(fieldsNamed(phrase!)).toEqual(mutable);
  });

  it("names every mutable field as ignored by a finished run", () => {
    const phrase = /A finished\s+BootstrapRun whose ([^]*?) are edited/.exec(readme)?.[1];
    expect(phrase, "README.md: 'A finished BootstrapRun whose … are edited'").toBeDefined();
    expect(fieldsNamed(phrase!)).toEqual(mutable);
  });
});
