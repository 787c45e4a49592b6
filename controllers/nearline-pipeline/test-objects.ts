// Stored-looking JUDE objects for the controllers' unit tests: the examples, parsed and defaulted as
// the API server would, with a namespace and uid so they can own children. Used only by tests.
import {
  parseBootstrapRun,
  parseEmbeddingModel,
  parseNearlinePipeline,
  type BootstrapRun,
  type EmbeddingModel,
  type NearlinePipeline,
} from "../../crds/index.ts";
import { loadExample, type ExampleFile, type JsonObject } from "../../test/fixtures/examples.ts";

/** The namespace every test object lives in. */
export const testNamespace = "recs";

/** An example as the API server would store it (namespace, uid, generation), before parsing. */
export function stored(file: ExampleFile, uid: string, edit?: (object: JsonObject) => void): JsonObject {
  const object = loadExample(file);
  const metadata = object.metadata as JsonObject;
  metadata.namespace = testNamespace;
  metadata.uid = uid;
  metadata.generation = 1;
  metadata.creationTimestamp = "2026-12-01T10:00:00Z";
  edit?.(object);
  return object;
}

/** The example EmbeddingModel jude-minilm; `edit` changes the raw object before parsing. */
export function testModel(edit?: (object: JsonObject) => void): EmbeddingModel {
  return parseEmbeddingModel(stored("embedding-model.yaml", "00000000-0000-4000-8000-00000000000a", edit));
}

/** The example NearlinePipeline jobs (or member-profiles, with TLS and SASL). */
export function testPipeline(
  file:
    "nearline-pipeline-jobs.yaml" | "nearline-pipeline-member-profiles.yaml" = "nearline-pipeline-jobs.yaml",
  edit?: (object: JsonObject) => void,
): NearlinePipeline {
  return parseNearlinePipeline(stored(file, "00000000-0000-4000-8000-00000000000b", edit));
}

/** The example BootstrapRun jobs-minilm-v1. */
export function testRun(edit?: (object: JsonObject) => void): BootstrapRun {
  return parseBootstrapRun(stored("bootstrap-run.yaml", "00000000-0000-4000-8000-00000000000c", edit));
}

/** Sets (or with undefined, removes) a nested field of a raw object, creating objects on the way. */
export function setPath(object: JsonObject, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = object;
  for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as JsonObject;
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

/**
 * Moves a raw example EmbeddingModel on to minilm-v2: its spec names minilm-v2 and its status lists
 * minilm-v2 Active and minilm-v1 in `v1Phase`.
 */
export function movedToMinilmV2(model: JsonObject, v1Phase: string): void {
  setPath(model, "spec.version", "minilm-v2");
  setPath(model, "status", {
    observedGeneration: 1,
    activeVersion: "minilm-v2",
    versions: [
      { version: "minilm-v1", phase: v1Phase },
      { version: "minilm-v2", phase: "Active" },
    ],
  });
}
