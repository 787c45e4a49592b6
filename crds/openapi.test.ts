import { describe, expect, it } from "vitest";
import { z } from "zod";
import { listMap, mapOf, opaqueObject, quantity, withRules } from "./kube.ts";
import { toStructuralSchema } from "./openapi.ts";

describe("toStructuralSchema", () => {
  it("turns string, integer and number checks into OpenAPI validations", () => {
    const schema = z.strictObject({
      name: z
        .string()
        .min(1)
        .max(63)
        .regex(/^[a-z]+\/[a-z]+$/)
        .describe("A name."),
      count: z.int().min(0).max(10).describe("A count."),
      small: z.int32().describe("An int32."),
      ratio: z.number().gt(0).lte(1).describe("A ratio."),
      when: z.iso.datetime({ offset: true }).describe("A time."),
    });
    expect(toStructuralSchema(schema.describe("Root."), "spec").properties).toEqual({
      name: {
        description: "A name.",
        type: "string",
        minLength: 1,
        maxLength: 63,
        pattern: "^[a-z]+/[a-z]+$",
      },
      count: { description: "A count.", type: "integer", minimum: 0, maximum: 10 },
      small: {
        description: "An int32.",
        type: "integer",
        format: "int32",
        minimum: -2147483648,
        maximum: 2147483647,
      },
      ratio: { description: "A ratio.", type: "number", minimum: 0, exclusiveMinimum: true, maximum: 1 },
      when: { description: "A time.", type: "string", format: "date-time" },
    });
  });

  it("marks fields without optional or default as required and spells out scalar defaults", () => {
    const schema = z
      .strictObject({
        must: z.string().describe("Required."),
        may: z.string().optional().describe("Optional."),
        mode: z.enum(["A", "B"]).default("A").describe("Mode."),
        nested: z
          .strictObject({ on: z.boolean().default(true).describe("On.") })
          .prefault({})
          .describe("Nested."),
      })
      .describe("Root.");
    const converted = toStructuralSchema(schema, "spec");
    expect(converted.required).toEqual(["must"]);
    expect(converted.properties?.mode).toEqual({
      description: "Mode. Defaults to A.",
      type: "string",
      enum: ["A", "B"],
      default: "A",
    });
    expect(converted.properties?.nested?.default).toEqual({});
    expect(converted.properties?.nested?.description).toBe("Nested.");
  });

  it("emits int-or-string quantities, opaque objects, bounded maps and list maps", () => {
    const schema = z
      .strictObject({
        memory: quantity().describe("Memory."),
        affinity: opaqueObject().describe("Opaque."),
        labels: mapOf(z.string(), { min: 1, max: 8 }).describe("Labels."),
        items: listMap(z.array(z.strictObject({ id: z.string().describe("Id.") })).max(4), ["id"]).describe(
          "Items.",
        ),
      })
      .describe("Root.");
    const properties = toStructuralSchema(schema, "spec").properties!;
    expect(properties.memory).toMatchObject({
      anyOf: [{ type: "integer" }, { type: "string" }],
      "x-kubernetes-int-or-string": true,
    });
    expect(properties.memory?.pattern).toBeDefined();
    expect(properties.affinity).toEqual({
      description: "Opaque.",
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
    });
    expect(properties.labels).toMatchObject({
      minProperties: 1,
      maxProperties: 8,
      additionalProperties: { type: "string" },
    });
    expect(properties.items).toMatchObject({
      maxItems: 4,
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["id"],
    });
  });

  it("carries CEL rules with their field path and reason", () => {
    const schema = withRules(
      z.strictObject({ a: z.int().optional().describe("A."), b: z.int().optional().describe("B.") }),
      [
        {
          rule: "!(has(self.a) && has(self.b))",
          message: "a and b are exclusive",
          field: "b",
          reason: "FieldValueForbidden",
          holds: (self) => !(self.a !== undefined && self.b !== undefined),
        },
        { rule: "self.a == oldSelf.a", message: "a is immutable", field: "a" },
      ],
    ).describe("Root.");
    expect(toStructuralSchema(schema, "spec")["x-kubernetes-validations"]).toEqual([
      {
        rule: "!(has(self.a) && has(self.b))",
        message: "a and b are exclusive",
        fieldPath: ".b",
        reason: "FieldValueForbidden",
      },
      { rule: "self.a == oldSelf.a", message: "a is immutable", fieldPath: ".a" },
    ]);
  });

  it.each([
    ["a stripping z.object", z.object({ a: z.string().describe("A.") })],
    ["a field without description", z.strictObject({ a: z.string() })],
    ["a refinement without a CEL twin", z.strictObject({}).refine(() => true)],
    ["a general union", z.strictObject({ a: z.union([z.string(), z.boolean()]).describe("A.") })],
    ["a regex with flags", z.strictObject({ a: z.string().regex(/^a$/i).describe("A.") })],
    ["a datetime without offsets", z.strictObject({ a: z.iso.datetime().describe("A.") })],
    ["a default that does not validate", z.strictObject({ a: z.int().min(1).default(0).describe("A.") })],
    ["a constrained map key", z.strictObject({ a: z.record(z.string().max(3), z.string()).describe("A.") })],
    [
      "a CEL field path naming no property",
      withRules(z.strictObject({ a: z.int().describe("A.") }), [
        { rule: "true", message: "m", field: "b", holds: () => true },
      ]),
    ],
  ])("refuses %s", (_name, schema) => {
    expect(() => toStructuralSchema(schema.describe("Root."), "spec")).toThrow(/spec/);
  });
});
