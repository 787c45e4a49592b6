// The objects the controller integration tests apply: the examples, pointed at the testbed's Kafka and
// Redis, with a Secret holding the store URL.
import { labelKeys, managedBy } from "../../../controllers/shared/labels.ts";
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

/**
 * A BootstrapRun of `pipelineName` filling minilm-v1 (or `modelVersion`) from its changelog on
 * `parallelism` shards.
 */
export function bootstrapRun(
  name: string,
  pipelineName: string,
  parallelism: number,
  modelVersion?: string,
): JsonObject {
  const object = loadExample("bootstrap-run.yaml");
  (object.metadata as JsonObject).name = name;
  const spec = object.spec as BootstrapRunInput["spec"];
  spec.pipelineRef = { name: pipelineName };
  spec.parallelism = parallelism;
  if (modelVersion !== undefined) spec.modelVersion = modelVersion;
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

/** A digest per version for the promotion tests: "1" x 64 for v1, "2" x 64 for v2, and so on. */
export const versionDigest = (version: string): string => version.replace(/^v/, "").repeat(64);

/** Entity ids the promotion tests write vectors for. */
export const promotionIds = Array.from({ length: 10 }, (_, index) => `j${index}`);

/** The promotion tests' model `jobs-model` at `version`: each version its own model file and digest. */
export function promotionModelAt(version: string, promotion: JsonObject = {}): JsonObject {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "EmbeddingModel",
    metadata: { name: "jobs-model" },
    spec: {
      version,
      model: {
        uri: `file:///opt/models/${version}/model.onnx`,
        sha256: versionDigest(version),
        dimensions: 4,
      },
      prompts: { job: "Job: {{title}}" },
      serving: { replicas: 1, resources: { requests: { cpu: "100m", memory: "128Mi" } } },
      promotion: { bakeSeconds: 600, ...promotion },
    },
  };
}

/** The name of `heldWriterPod(model, version)`, to delete it when the test lets the collection go. */
export const heldWriterPodName = (model: string, version: string): string =>
  `${model}-${version}-writer-held-by-test`;

/**
 * A pod the EmbeddingModel controller takes for one of `version`'s nearline workers, still writing: it
 * never schedules (Pending has not ended), so the garbage collection of `version` waits until the test
 * deletes it. Right after a flip or a revert the controller reconciles several times in a row (its own
 * writes wake it) and each reconcile removes one bounded step, so without it a version could be
 * collected within a second, before a test looked; once the pod is gone the first step or two come at
 * once and the others one per poll interval (seconds apart).
 */
export function heldWriterPod(model: string, version: string): JsonObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: heldWriterPodName(model, version),
      labels: {
        [labelKeys.managedBy]: managedBy,
        [labelKeys.component]: "nearline",
        [labelKeys.model]: model,
        [labelKeys.embeddingVersion]: version,
      },
    },
    spec: {
      nodeSelector: { "jude.dev/test-no-such-node": "true" },
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "worker",
          image: "registry.invalid/held:1",
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        },
      ],
    },
  };
}

/** A sha256 of one repeated hex digit (a stand-in model file's). */
export const hex = (digit: string): string => digit.repeat(64);

/** The entity ids the store-conflict tests write. */
export const conflictIds = Array.from({ length: 6 }, (_, index) => `j${index}`);

/** EmbeddingModel `name` at `version`, its model file's sha256 all `digit` (store-conflict tests). */
export function conflictModelAt(name: string, version: string, digit: string): JsonObject {
  return {
    apiVersion: "jude.dev/v1alpha1",
    kind: "EmbeddingModel",
    metadata: { name },
    spec: {
      version,
      model: { uri: `file:///opt/models/${version}/model.onnx`, sha256: hex(digit), dimensions: 4 },
      prompts: { job: "Job: {{title}}" },
      serving: { replicas: 1, resources: { requests: { cpu: "100m", memory: "128Mi" } } },
    },
  };
}
