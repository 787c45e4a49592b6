import { describe, expect, it } from "vitest";
import { exampleFiles, loadExample, type JsonObject } from "../test/fixtures/examples.ts";
import { safeParseBootstrapRun } from "./bootstrap-run.ts";
import { parseEmbeddingModel, safeParseEmbeddingModel } from "./embedding-model.ts";
import { safeParseNearlinePipeline } from "./nearline-pipeline.ts";
import { formatPath, fromApiServer, InvalidResourceError } from "./resource.ts";

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

  // The API server prunes what its CRD does not declare: a field unknown to this release in an
  // object read from it was declared by a newer release's CRD (see ParseOptions).
  it("drops fields a newer release declares from an object read from the API server, and refuses the rest", () => {
    const example = loadExample("embedding-model.yaml");
    Object.assign(example.spec as object, { extra: true });
    Object.assign((example.spec as { serving: object }).serving, { extra: { nested: 1 } });
    example.status = { activeVersion: "minilm-v1", extra: "x" };
    expect(safeParseEmbeddingModel(example).success).toBe(false);
    const read = safeParseEmbeddingModel(example, fromApiServer);
    expect(read.success && read.data.status).toEqual({ activeVersion: "minilm-v1" });
    expect(read.success && "extra" in read.data.spec).toBe(false);
    expect(read.success && "extra" in read.data.spec.serving).toBe(false);
    // Only unknown fields are dropped: a bad value of a known one is still invalid, and named.
    Object.assign(example.spec as object, { version: "Bad_Version" });
    const bad = safeParseEmbeddingModel(example, fromApiServer);
    expect(bad.success ? [] : bad.error.issues.map((issue) => issue.path)).toEqual(["spec.version"]);
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

// Zod reports an unknown key of every strict object in one pass, at any depth (in arrays, in map
// values, beside invalid siblings): a newer release's field anywhere is dropped, the rest kept.
describe("a newer release's field at any depth of an object read from the API server", () => {
  const parsers = {
    EmbeddingModel: safeParseEmbeddingModel,
    NearlinePipeline: safeParseNearlinePipeline,
    BootstrapRun: safeParseBootstrapRun,
  } as const;
  const objectPaths = (value: unknown, path: (string | number)[] = []): (string | number)[][] =>
    Array.isArray(value)
      ? value.flatMap((item, index) => objectPaths(item, [...path, index]))
      : typeof value === "object" && value !== null
        ? [path, ...Object.entries(value).flatMap(([key, item]) => objectPaths(item, [...path, key]))]
        : [];
  const at = (object: JsonObject, path: (string | number)[]) =>
    path.reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], object) as Record<
      string,
      unknown
    >;

  it.each(exampleFiles)("%s: dropped wherever a strict object refuses it", (file) => {
    const example = loadExample(file);
    const parse = parsers[example.kind as keyof typeof parsers];
    let strictObjects = 0;
    for (const path of objectPaths(example)) {
      const edited = loadExample(file);
      at(edited, path).newerField = "x";
      const strict = parse(edited);
      // A map (labels, prompts, resources) takes the key as an entry; a strict object refuses it.
      if (strict.success || !strict.error.issues.some((issue) => issue.message === "unknown field")) continue;
      strictObjects += 1;
      const read = parse(edited, fromApiServer);
      expect(read.success, `${file} ${path.join(".")}`).toBe(true);
      if (read.success) expect(read.data).toEqual((parse(loadExample(file)) as { data: unknown }).data);
    }
    expect(strictObjects).toBeGreaterThan(3);
  });
});
