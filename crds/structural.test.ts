// Checks the generated schemas against the rules the API server enforces on CRDs (structural schema,
// pruning, CEL cost) and the ones this project adds (a description on every field), independently of
// the converter that produced them.
import { describe, expect, it } from "vitest";
import { buildCrd } from "./crd.ts";
import { kindDefinitions } from "./generate.ts";
import type { JSONSchemaProps } from "./json-schema-props.ts";

interface Node {
  path: string;
  schema: JSONSchemaProps;
  isProperty: boolean;
}

function* walk(schema: JSONSchemaProps, path: string, isProperty: boolean): Generator<Node> {
  yield { path, schema, isProperty };
  for (const [name, child] of Object.entries(schema.properties ?? {}))
    yield* walk(child, `${path}.${name}`, true);
  if (schema.items) yield* walk(schema.items, `${path}[]`, false);
  if (schema.additionalProperties) yield* walk(schema.additionalProperties, `${path}.*`, false);
}

const nodes = kindDefinitions.flatMap((kind) =>
  [...walk(buildCrd(kind).spec.versions[0]!.schema.openAPIV3Schema, kind.kind, false)].filter(
    (node) => node.path !== `${kind.kind}.metadata`,
  ),
);

describe("structural schemas", () => {
  it("give every node a type, except int-or-string", () => {
    const untyped = nodes.filter((node) => !node.schema.type && !node.schema["x-kubernetes-int-or-string"]);
    expect(untyped.map((node) => node.path)).toEqual([]);
  });

  it("use anyOf only for int-or-string, with types alone inside", () => {
    for (const node of nodes.filter((candidate) => candidate.schema.anyOf)) {
      expect(node.schema["x-kubernetes-int-or-string"], node.path).toBe(true);
      expect(node.schema.anyOf).toEqual([{ type: "integer" }, { type: "string" }]);
    }
  });

  it("describe every field so kubectl explain teaches the API", () => {
    const undocumented = nodes.filter((node) => node.isProperty && !node.schema.description);
    expect(undocumented.map((node) => node.path)).toEqual([]);
  });

  it("bound every list and map that carries a CEL rule, or sits above one, so the cost estimate stays low", () => {
    const hasRule = (schema: JSONSchemaProps): boolean =>
      [...walk(schema, "", false)].some((node) => (node.schema["x-kubernetes-validations"]?.length ?? 0) > 0);
    for (const node of nodes) {
      if (node.schema.type === "array" && node.schema.items && hasRule(node.schema.items)) {
        expect(node.schema.maxItems, node.path).toBeDefined();
      }
      if (node.schema.additionalProperties && node.schema["x-kubernetes-validations"]) {
        expect(node.schema.maxProperties, node.path).toBeDefined();
      }
    }
  });

  it("keep preserved-unknown objects free of defaults and rules", () => {
    for (const node of nodes.filter(
      (candidate) => candidate.schema["x-kubernetes-preserve-unknown-fields"],
    )) {
      expect(node.schema.default, node.path).toBeUndefined();
      expect(node.schema["x-kubernetes-validations"], node.path).toBeUndefined();
    }
  });

  it("key list maps by required fields", () => {
    for (const node of nodes.filter((candidate) => candidate.schema["x-kubernetes-list-type"] === "map")) {
      const keys = node.schema["x-kubernetes-list-map-keys"] ?? [];
      expect(keys.length, node.path).toBeGreaterThan(0);
      for (const key of keys) expect(node.schema.items?.required, node.path).toContain(key);
    }
  });

  it("point every CEL fieldPath at a property of the schema carrying the rule", () => {
    for (const node of nodes) {
      for (const rule of node.schema["x-kubernetes-validations"] ?? []) {
        if (rule.fieldPath === undefined) continue;
        let target: JSONSchemaProps | undefined = node.schema;
        for (const segment of rule.fieldPath.slice(1).split(".")) target = target?.properties?.[segment];
        expect(target, `${node.path}: ${rule.fieldPath}`).toBeDefined();
      }
    }
  });
});
