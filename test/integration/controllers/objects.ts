// The objects the controller integration tests apply: the examples, pointed at the testbed's Kafka and
// Redis, with a Secret holding the store URL.
import type { BootstrapRunInput, NearlinePipelineInput } from "../../../crds/index.ts";
import { loadExample, type JsonObject } from "../../fixtures/examples.ts";
import { requireEnv } from "../../support/env.ts";
import type { TestEvent } from "../../support/kafka.ts";

/** The Secret the example pipelines reference for the store URL. */
export function storeSecret(name = "jude-redis"): JsonObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name },
    stringData: { url: requireEnv("JUDE_REDIS_URL") },
  };
}

/** The example EmbeddingModel jude-minilm. */
export function model(): JsonObject {
  return loadExample("embedding-model.yaml");
}

/** A NearlinePipeline like the jobs example, reading `topic` on the testbed broker. */
export function pipeline(
  name: string,
  topic: string,
  edit: (spec: NearlinePipelineInput["spec"]) => void = () => undefined,
): JsonObject {
  const object = loadExample("nearline-pipeline-jobs.yaml");
  (object.metadata as JsonObject).name = name;
  const spec = object.spec as NearlinePipelineInput["spec"];
  spec.source.kafka.bootstrapServers = [requireEnv("JUDE_KAFKA_BOOTSTRAP")];
  spec.source.kafka.topic = topic;
  delete spec.source.kafka.consumerGroup;
  delete spec.sinks.kafka;
  delete spec.sinks.deadLetter;
  spec.workers = { replicas: 2, maxBatchSize: 64, maxInflight: 4 };
  edit(spec);
  return object;
}

/** A BootstrapRun of `pipelineName` filling minilm-v1 from its changelog on `parallelism` shards. */
export function bootstrapRun(name: string, pipelineName: string, parallelism: number): JsonObject {
  const object = loadExample("bootstrap-run.yaml");
  (object.metadata as JsonObject).name = name;
  const spec = object.spec as BootstrapRunInput["spec"];
  spec.pipelineRef = { name: pipelineName };
  spec.parallelism = parallelism;
  return object;
}

/** A changelog of `counts[p]` job events on each partition p (a snapshot for a BootstrapRun). */
export function snapshotEvents(counts: readonly number[]): TestEvent[] {
  return counts.flatMap((count, partition) =>
    Array.from({ length: count }, (_, index) => ({
      key: `job-${partition}-${index}`,
      value: { jobId: `job-${partition}-${index}`, title: "Engineer" },
      partition,
    })),
  );
}
