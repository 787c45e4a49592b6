import { describe, expect, it } from "vitest";
import { loadExample } from "../test/fixtures/examples.ts";
import { parseEmbeddingModel, safeParseEmbeddingModel } from "./embedding-model.ts";
import { formatPath, InvalidResourceError } from "./resource.ts";

describe("formatPath", () => {
  it("writes paths as the API server does", () => {
    expect(formatPath(["spec", "serving", "tolerations", 0, "operator"])).toBe(
      "spec.serving.tolerations[0].operator",
    );
    expect(formatPath([])).toBe("<root>");
  });
});

describe("parsing an object", () => {
  it("returns the typed object with defaults filled in", () => {
    const example = loadExample("embedding-model.yaml");
    delete (example.spec as { promotion?: unknown }).promotion;
    const model = parseEmbeddingModel(example);
    expect(model.spec.promotion).toEqual({
      cutover: "Automatic",
      minCoverage: 0.99,
      maxLagSeconds: 30,
      bakeSeconds: 600,
      progressDeadlineSeconds: 3600,
      retainVersions: 1,
    });
    expect(model.spec.serving.accelerator?.resourceName).toBe("nvidia.com/gpu");
  });

  it("throws an InvalidResourceError naming the object and every bad field", () => {
    const example = loadExample("embedding-model.yaml");
    Object.assign(example.metadata as object, { namespace: "recs" });
    Object.assign(example.spec as object, { version: "Bad_Version", extra: true });
    let error: unknown;
    try {
      parseEmbeddingModel(example);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidResourceError);
    const invalid = error as InvalidResourceError;
    expect(invalid.code).toBe("ERR_JUDE_INVALID_RESOURCE");
    expect(invalid.message).toMatch(/^EmbeddingModel recs\/jude-minilm is invalid: /);
    expect(invalid.issues.map((issue) => issue.path).sort()).toEqual(["spec.extra", "spec.version"]);
    expect(invalid.issues.find((issue) => issue.path === "spec.extra")?.message).toBe("unknown field");
  });

  it("reports a missing field as a required value, and a wrong kind", () => {
    const example = loadExample("embedding-model.yaml");
    delete (example.spec as { model?: unknown }).model;
    example.kind = "NearlinePipeline";
    const result = safeParseEmbeddingModel(example);
    expect(result.success).toBe(false);
    if (!result.success) {
      expect(result.error.issues).toContainEqual({ path: "spec.model", message: "Required value" });
      expect(result.error.issues.map((issue) => issue.path)).toContain("kind");
    }
  });
});
