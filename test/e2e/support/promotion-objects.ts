// The objects of the promotion end-to-end test: the `minilm` EmbeddingModel at a version (v1 the fp32
// model, later versions the int8 one, so each version has its own digest), the `jobs` NearlinePipeline
// on a two-partition changelog, its events, and the positions a BootstrapRun captured.
import type { Json } from "../../integration/operator/operator-harness.ts";
import { requireEnv } from "../../support/env.ts";
import type { TestEvent } from "../../support/kafka.ts";
import { storeSecretRef } from "./namespace.ts";
import { testbedModel } from "./testbed-model.ts";

export { sha256Of } from "./testbed-model.ts";

export const template = "Job: {{title}} at {{company}}";
export const extract = { title: "$.title", company: "$.company.name" };

/** The model at `version`; `sha256` overrides the file's digest (a mismatch). */
export function promotionModel(namespace: string, version: string, promotion: Json, sha256?: string): Json {
  const file = version === "v1" ? "model.onnx" : "model.int8.onnx";
  return testbedModel(namespace, {
    version,
    file,
    prompts: { job: template },
    promotion,
    ...(sha256 !== undefined ? { sha256 } : {}),
  });
}

/** The pipeline of job events from `topic` into the store `storeName` (on a Redis Cluster with `cluster`). */
export function jobsPipeline(namespace: string, topic: string, storeName: string, cluster = false): Json {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "NearlinePipeline",
    metadata: { name: "jobs", namespace },
    spec: {
      modelRef: { name: "minilm" },
      entity: "job",
      source: {
        kafka: { bootstrapServers: [requireEnv("JUDE_KAFKA_BOOTSTRAP")], topic, startOffset: "Latest" },
      },
      decode: { format: "json", keyPath: "$.jobId", eventTimePath: "$.updatedAt" },
      extract,
      sinks: {
        store: { name: storeName, urlSecretRef: storeSecretRef, ...(cluster ? { cluster: true } : {}) },
      },
      workers: { replicas: 1, maxBatchSize: 16, maxInflight: 2 },
    },
  };
}

/** A job event; `index` chooses its partition (of two) and event time. */
export const jobEvent = (id: string, index: number, title: string): TestEvent => ({
  key: id,
  partition: index % 2,
  value: { jobId: id, updatedAt: 1_000 + index, title, company: { name: "Acme" } },
});

/** The changelog positions a BootstrapRun captured (empty until it did). */
export function watermarks(run: Json | undefined): { partition: number; offset: number }[] {
  const captured = (run?.status as Json | undefined)?.watermarks as Json | undefined;
  return (captured?.partitions ?? []) as { partition: number; offset: number }[];
}
