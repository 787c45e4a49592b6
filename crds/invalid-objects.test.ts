// The zod half of the parity table: every invalid object is rejected and the error names the field.
// test/integration/crds.test.ts runs the same table through the real API server.
import { describe, expect, it } from "vitest";
import { invalidObjects } from "../test/fixtures/invalid-objects.ts";
import { validEdgeObjects } from "../test/fixtures/valid-edge-objects.ts";
import { safeParseJudeObject } from "./index.ts";

describe("invalid objects through the zod schemas", () => {
  it("has at least 30 cases covering every kind", () => {
    expect(invalidObjects.length).toBeGreaterThanOrEqual(30);
    const kinds = new Set(invalidObjects.map((testCase) => testCase.object.kind));
    expect(kinds).toEqual(new Set(["EmbeddingModel", "NearlinePipeline", "BootstrapRun"]));
  });

  it.each(invalidObjects)("rejects: $name (names $field)", ({ object, field }) => {
    const result = safeParseJudeObject(object);
    expect(result).toBeDefined();
    expect(result?.success).toBe(false);
    if (result?.success === false) {
      expect(result.error.code).toBe("ERR_JUDE_INVALID_RESOURCE");
      expect(result.error.issues.map((issue) => issue.path)).toContainEqual(expect.stringContaining(field));
      expect(result.error.message).toContain(field);
    }
  });
});

// The other side of a rule copied from the Pod spec: what the API server takes in a pod stays valid.
describe("objects at the edges of the Pod spec's rules through the zod schemas", () => {
  it.each(validEdgeObjects)("accepts: $name", ({ object }) => {
    const result = safeParseJudeObject(object);
    expect(result?.success, result?.success === false ? result.error.message : "").toBe(true);
  });
});
