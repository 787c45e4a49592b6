import { describe, expect, it } from "vitest";
import { parseEmbeddingModel, parseNearlinePipeline } from "../../crds/index.ts";
import { fillPlaceholders, quickstartFiles, quickstartObjects, type ManifestValues } from "./manifests.ts";
import { changelogTopics } from "./records.ts";

const values: ManifestValues = {
  NAMESPACE: "jude-quickstart",
  MODEL_DIR: "/cache/model",
  MODEL_SHA256: "a".repeat(64),
  KAFKA_BOOTSTRAP: "127.0.0.1:9092",
  JOBS_TOPIC: changelogTopics.job,
  MEMBERS_TOPIC: changelogTopics["member-profile"],
  STORE_NAME: "quickstart",
};

const placeholders = (template: string) =>
  [...template.matchAll(/\{\{ *([A-Za-z_][A-Za-z0-9_]*) *\}\}/g)].map((match) => match[1]!);

describe("quickstart manifests", () => {
  it("fills placeholders and refuses a missing one", () => {
    expect(fillPlaceholders("a ${X} b ${X}", { X: "1" })).toBe("a 1 b 1");
    expect(() => fillPlaceholders("${MISSING}", {})).toThrow("no value for placeholder ${MISSING}");
  });

  it("are valid JUDE objects in one namespace", () => {
    const objects = quickstartFiles.flatMap((file) => quickstartObjects(file, values));
    expect(objects.map((object) => object.kind)).toEqual([
      "PersistentVolume",
      "PersistentVolumeClaim",
      "EmbeddingModel",
      "NearlinePipeline",
      "NearlinePipeline",
      "BootstrapRun",
      "BootstrapRun",
    ]);
    const namespaced = objects.filter((object) => object.kind !== "PersistentVolume");
    expect(new Set(namespaced.map((object) => (object.metadata as { namespace: string }).namespace))).toEqual(
      new Set(["jude-quickstart"]),
    );
    expect(objects[0]).toMatchObject({ spec: { hostPath: { path: "/cache/model" } } });
  });

  it("extract every field the model's prompts name, from the topics the generator writes", () => {
    const model = parseEmbeddingModel(quickstartObjects("embedding-model.yaml", values)[0]);
    for (const file of ["nearline-pipeline-jobs.yaml", "nearline-pipeline-member-profiles.yaml"] as const) {
      const pipeline = parseNearlinePipeline(quickstartObjects(file, values)[0]);
      const template = model.spec.prompts[pipeline.spec.entity]!;
      expect(Object.keys(pipeline.spec.extract).sort()).toEqual([...new Set(placeholders(template))].sort());
      expect(pipeline.spec.source.kafka?.topic).toBe(changelogTopics[pipeline.spec.entity as "job"]);
    }
  });
});
