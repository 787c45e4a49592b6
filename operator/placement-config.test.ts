// The chart's values.schema.json copies by hand the rules the operator applies at start to
// workloads.nodeSelector and workloads.tolerations (--workload-node-selector, --workload-tolerations,
// parsed with crds/common.ts), which are the rules a Pod applies: a value the schema takes and the
// operator refuses is a crash loop after a successful helm install, one it refuses and a Pod takes a
// release that cannot say what the cluster would do. This holds the two to the same answers on a table
// of values, and the schema's name patterns to crds/patterns.ts.
import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { labelKeyPattern, labelValuePattern, portableSource, resourceNamePattern } from "../crds/patterns.ts";
import { loadOperatorConfig } from "./config.ts";

// Helm takes the https spelling of draft-07's URI, which Ajv does not know: the rest is draft-07.
const { $schema: _draft, ...schema } = JSON.parse(
  readFileSync(new URL("../charts/jude-operator/values.schema.json", import.meta.url), "utf8"),
) as Record<string, unknown>;
const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);

interface PatternMap {
  patternProperties: Record<string, unknown>;
}

/** Whether the chart's schema takes these workload values. */
function chartTakes(workloads: object): boolean {
  return validate({ workloads });
}

/** Whether the operator starts with the flags the chart renders from them (deployment.yaml). */
function operatorTakes(workloads: {
  nodeSelector?: Record<string, string>;
  tolerations?: object[];
}): boolean {
  const args: string[] = [];
  if (workloads.nodeSelector !== undefined && Object.keys(workloads.nodeSelector).length > 0) {
    const pairs = Object.keys(workloads.nodeSelector)
      .sort()
      .map((key) => `${key}=${workloads.nodeSelector![key]}`);
    args.push(`--workload-node-selector=${pairs.join(",")}`);
  }
  if (workloads.tolerations !== undefined && workloads.tolerations.length > 0)
    args.push(`--workload-tolerations=${JSON.stringify(workloads.tolerations)}`);
  try {
    loadOperatorConfig(args, {});
    return true;
  } catch {
    return false;
  }
}

const prefix = (length: number) => `${"a".repeat(62)}.`.repeat(5).slice(0, length - 1) + "b";

describe("the chart's workload placement values", () => {
  it("are taken by the schema exactly when the operator takes them at start", () => {
    const cases: object[] = [
      { nodeSelector: { pool: "jude" } },
      { nodeSelector: { pool: "" } },
      { nodeSelector: { "example.com/pool": "jude" } },
      { nodeSelector: { [`${prefix(253)}/${"n".repeat(63)}`]: "x" } },
      { nodeSelector: { [`${prefix(254)}/x`]: "x" } },
      { nodeSelector: { ["n".repeat(64)]: "x" } },
      { nodeSelector: { "pool name": "x" } },
      { nodeSelector: { "Example.com/pool": "x" } },
      { nodeSelector: { pool: "x".repeat(64) } },
      { nodeSelector: { pool: "a b" } },
      { nodeSelector: Object.fromEntries(Array.from({ length: 32 }, (_, index) => [`l${index}`, "x"])) },
      { nodeSelector: Object.fromEntries(Array.from({ length: 33 }, (_, index) => [`l${index}`, "x"])) },
      { tolerations: [{ operator: "Exists" }] },
      { tolerations: [{ key: "", operator: "Exists" }] },
      { tolerations: [{ key: "dedicated", operator: "Exists", effect: "NoSchedule" }] },
      { tolerations: [{ key: "dedicated", value: "jude" }] },
      { tolerations: [{ key: "dedicated", operator: "Equal", value: "" }] },
      { tolerations: [{ key: "a", effect: "NoExecute", tolerationSeconds: 0 }] },
      { tolerations: [{ key: "a", effect: "NoExecute", tolerationSeconds: -1 }] },
      { tolerations: [{ key: "a", operator: "Exists", value: "" }] },
      { tolerations: [{ key: "a", operator: "Exists", value: "x" }] },
      { tolerations: [{ value: "x" }] },
      { tolerations: [{ key: "a", operator: "" }] },
      { tolerations: [{ key: "a", effect: "" }] },
      { tolerations: [{ key: "a", value: "x".repeat(64) }] },
      { tolerations: [{ key: "a", tolarationSeconds: 5 }] },
      { tolerations: Array.from({ length: 33 }, () => ({ operator: "Exists" })) },
      // What a Pod takes: negative tolerationSeconds, "" as the omitted operator and effect, Exists with
      // an empty value, a key of 317 characters (a 253-character prefix, '/', a 63-character name).
      { tolerations: [{ key: "a", operator: "Exists", effect: "NoExecute", tolerationSeconds: -3600 }] },
      { tolerations: [{ key: "a", operator: "", value: "x", effect: "" }] },
      { tolerations: [{ operator: "Exists", value: "" }] },
      { tolerations: [{ key: `${prefix(253)}/${"n".repeat(63)}`, operator: "Exists" }] },
      // What a Pod refuses: a longer prefix, an empty key without Exists (operator "" is Equal),
      // tolerationSeconds without effect NoExecute, a key or value that is no label key or value.
      { tolerations: [{ key: `${prefix(254)}/x`, operator: "Exists" }] },
      { tolerations: [{ key: "", operator: "", value: "x" }] },
      { tolerations: [{ key: "", operator: "Equal", value: "x" }] },
      { tolerations: [{ key: "a", effect: "", tolerationSeconds: 5 }] },
      { tolerations: [{ key: "a", effect: "NoSchedule", tolerationSeconds: 5 }] },
      { tolerations: [{ key: "a", tolerationSeconds: 5 }] },
      { tolerations: [{ key: "dedicated pool", operator: "Exists" }] },
      { tolerations: [{ key: "a", value: "x y" }] },
      { nodeSelector: { "a..b/pool": "x" } },
    ];
    const answers = (takes: (workloads: object) => boolean) => cases.map((values) => [values, takes(values)]);
    expect(answers(chartTakes)).toEqual(answers(operatorTakes));
  });

  it("checks names with the operator's own patterns (crds/patterns.ts), so the two cannot drift", () => {
    const definitions = schema.definitions as Record<string, { pattern: string }>;
    const resources = (schema.properties as Record<string, { properties: Record<string, PatternMap> }>)
      .resources!.properties;
    expect(definitions.labelKey!.pattern).toBe(portableSource(labelKeyPattern));
    expect(
      Object.keys((schema.definitions as Record<string, PatternMap>).labels!.patternProperties),
    ).toContain(portableSource(labelKeyPattern));
    expect(definitions.labelValue!.pattern).toBe(portableSource(labelValuePattern));
    for (const map of ["requests", "limits"])
      expect(Object.keys(resources[map]!.patternProperties), map).toEqual([
        portableSource(resourceNamePattern),
      ]);
  });
});
