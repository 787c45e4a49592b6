// What the README says happens to an EmbeddingModel edited while a promotion is in flight, checked
// against what does: the API server's answer to an edit of what makes a version's vectors (the
// CRD's transition rules), and which serving settings stay a version's own (servingAtVersion).
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { servingAtVersion } from "../../controllers/embedding-model/version-record.ts";
import { readDocument } from "./markdown.ts";

interface SpecSchema {
  properties: Record<string, { properties?: Record<string, unknown> }>;
  "x-kubernetes-validations"?: { rule: string; message?: string; fieldPath?: string }[];
}

const crd = parse(readDocument("crds/generated/embeddingmodels.jude.dev.yaml")) as {
  spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: SpecSchema } } } }[] };
};
const spec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec;
/** The README as a reader reads it: line breaks inside a paragraph are spaces. */
const readme = readDocument("README.md").replace(/\s+/g, " ");
const midflight =
  /\*\*Editing the spec while a promotion is in flight\*\*(.*?)\*\*One model per store\*\*/.exec(readme)?.[1];

describe("the README on edits during a promotion", () => {
  it("has the paragraph", () => {
    expect(midflight, "README.md: '**Editing the spec while a promotion is in flight**'").toBeDefined();
  });

  // An edit of the candidate's model or prompts under its version name never reaches the operator:
  // the API server refuses it, and the reader should recognise that answer.
  it("quotes the API server's answer to an edit of what makes a version's vectors", () => {
    const transitions = (spec["x-kubernetes-validations"] ?? []).filter((rule) =>
      rule.rule.includes("oldSelf"),
    );
    expect(transitions.map((rule) => rule.fieldPath).sort()).toEqual([".model", ".prompts"]);
    for (const rule of transitions) expect(midflight).toContain(rule.message);
  });

  // The version the spec names is served as the spec says (its record follows the spec): set back
  // with only version, model and prompts, it is served with the newer version's image and resources
  // and its pods roll as readers return to them (seen on the testbed). So the ways back by hand say
  // its serving settings come back too.
  it("says a rollback or an abandoned promotion by hand sets the version's serving settings back too", () => {
    const rollback = /Rollback = `spec\.version` (.*?): a draining one flips back at once/.exec(readme)?.[1];
    expect(rollback, "README.md: 'Rollback = `spec.version` …'").toContain("serving settings");
    const abandon = /to change them for the active version, (.*?) then edit, and promote again/.exec(
      midflight ?? "",
    )?.[1];
    expect(abandon, "README.md: 'to change them for the active version, …'").toContain("serving settings");
  });

  it("names each serving setting a version keeps, and only those", () => {
    const fields = Object.keys(spec.properties.serving!.properties ?? {});
    const recorded = Object.fromEntries(fields.map((field) => [field, `recorded-${field}`]));
    const current = Object.fromEntries(fields.map((field) => [field, `current-${field}`]));
    const served = servingAtVersion(recorded as never, current as never) as unknown as Record<string, string>;
    const kept = fields.filter((field) => served[field] === `recorded-${field}`).sort();
    const followSpec = fields.filter((field) => served[field] === `current-${field}`).sort();
    expect([...kept, ...followSpec].sort()).toEqual([...fields].sort());
    const named = (phrase: string | undefined) =>
      [...(phrase ?? "").matchAll(/`(?:serving\.)?(\w+)`|(node selector|tolerations|affinity|priority)/g)]
        .map(([, field, words]) => field ?? spokenField[words!]!)
        .sort();
    const definesPhrase = /the serving settings chosen for its model \((.*?)\)/.exec(midflight ?? "")?.[1];
    expect(named(definesPhrase)).toEqual(kept);
    const capacityPhrase = /Capacity — (.*?) — follows the spec/.exec(midflight ?? "")?.[1];
    expect(named(capacityPhrase)).toEqual(followSpec);
  });
});

const spokenField: Record<string, string> = {
  "node selector": "nodeSelector",
  tolerations: "tolerations",
  affinity: "affinity",
  priority: "priorityClassName",
};
