// The examples are documentation users copy: they must parse, and they must fit together (each
// pipeline feeds the model's prompt of its entity and extracts every field that prompt names).
import { describe, expect, it } from "vitest";
import { exampleFiles, loadExample } from "../test/fixtures/examples.ts";
import { parseBootstrapRun } from "./bootstrap-run.ts";
import { parseEmbeddingModel } from "./embedding-model.ts";
import { safeParseJudeObject } from "./index.ts";
import { parseNearlinePipeline } from "./nearline-pipeline.ts";

const pipelineFiles = exampleFiles.filter((file) => file.startsWith("nearline-pipeline-"));

function placeholders(template: string): string[] {
  return [...template.matchAll(/\{\{ *([A-Za-z_][A-Za-z0-9_]*) *\}\}/g)].map((match) => match[1]!);
}

describe("examples", () => {
  it.each(exampleFiles)("%s is a valid JUDE object", (file) => {
    const result = safeParseJudeObject(loadExample(file));
    expect(result?.success, result?.success === false ? result.error.message : "no parser").toBe(true);
  });

  it("cover jobs, member profiles and resumes, all feeding one model and one store", () => {
    const model = parseEmbeddingModel(loadExample("embedding-model.yaml"));
    const pipelines = pipelineFiles.map((file) => parseNearlinePipeline(loadExample(file)));
    expect(pipelines.map((pipeline) => pipeline.spec.entity).sort()).toEqual([
      "job",
      "member-profile",
      "resume",
    ]);
    for (const pipeline of pipelines) {
      expect(pipeline.spec.modelRef.name).toBe(model.metadata.name);
      // One store per model: a single pointer flip must switch every entity together.
      expect(pipeline.spec.sinks.store.name).toBe(pipelines[0]!.spec.sinks.store.name);
    }
  });

  it.each(pipelineFiles)("%s extracts every field its prompt template names", (file) => {
    const model = parseEmbeddingModel(loadExample("embedding-model.yaml"));
    const pipeline = parseNearlinePipeline(loadExample(file));
    const template = model.spec.prompts[pipeline.spec.entity];
    expect(template, `the model has no prompt for ${pipeline.spec.entity}`).toBeDefined();
    expect(Object.keys(pipeline.spec.extract).sort()).toEqual([...new Set(placeholders(template!))].sort());
  });

  it("bootstraps a version of the model through an example pipeline", () => {
    const model = parseEmbeddingModel(loadExample("embedding-model.yaml"));
    const run = parseBootstrapRun(loadExample("bootstrap-run.yaml"));
    const pipelineNames = pipelineFiles.map((file) => parseNearlinePipeline(loadExample(file)).metadata.name);
    expect(pipelineNames).toContain(run.spec.pipelineRef.name);
    expect(run.spec.modelVersion).toBe(model.spec.version);
  });
});
