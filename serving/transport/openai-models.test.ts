import { describe, expect, it } from "vitest";
import { assertServedModel, openAiModel, servedModelNames } from "./openai-models.ts";

const model = { name: "all-MiniLM-L6-v2", version: "2026-11-01" };

describe("served model names", () => {
  it("answers for the name, the version and name:version", () => {
    expect(servedModelNames(model)).toEqual([
      "all-MiniLM-L6-v2",
      "2026-11-01",
      "all-MiniLM-L6-v2:2026-11-01",
    ]);
    for (const name of [undefined, ...servedModelNames(model)])
      expect(() => assertServedModel(model, name)).not.toThrow();
  });

  it("refuses another model or version with MODEL_NOT_FOUND naming what is served", () => {
    for (const name of ["text-embedding-3-small", "all-MiniLM-L6-v2:2026-12-01", "2026-12-01", ""]) {
      expect(() => assertServedModel(model, name)).toThrow(
        expect.objectContaining({
          code: "MODEL_NOT_FOUND",
          message: expect.stringContaining(`the model "${name}" is not served here`),
        }),
      );
    }
  });

  it("describes the model as an OpenAI model object", () => {
    expect(openAiModel(model, 1_700_000_000_999)).toEqual({
      id: "all-MiniLM-L6-v2",
      object: "model",
      created: 1_700_000_000,
      owned_by: "jude",
    });
  });
});
