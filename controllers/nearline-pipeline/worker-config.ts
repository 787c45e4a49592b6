// The config file of one version's nearline workers (`jude nearline --config`), rendered from the
// NearlinePipeline, its EmbeddingModel and the live version; the worker's own schema validates it.
import type { z } from "zod";
import type { EmbeddingModel, NearlinePipeline } from "../../crds/index.ts";
import type { nearlineConfigSchema } from "../../pipelines/nearline/config.ts";
import { consumerGroup } from "../shared/names.ts";
import {
  decodeConfig,
  embeddingConfig,
  kafkaConnectionConfig,
  modelConfig,
  storeConfig,
  type SecretKeyNames,
} from "./config-sections.ts";
import type { LiveVersion } from "./live-versions.ts";
import type { SecretWiring } from "../shared/secret-wiring.ts";

/** Port of the worker's /metrics, /healthz and /readyz. */
export const workerOpsPort = 9090;

/** Input of `jude nearline --config`, as the worker's schema reads it. */
export type NearlineConfigInput = z.input<typeof nearlineConfigSchema>;

/**
 * The consumer group of a version's workers: `<spec consumerGroup>.<version>` when the pipeline names
 * a prefix, else the operator's default. Stable per version, so a restarted or rescheduled worker
 * resumes from the group's committed offsets and two versions never share offsets.
 */
export function workerConsumerGroup(pipeline: NearlinePipeline, embeddingVersion: string): string {
  const prefix = pipeline.spec.source.kafka.consumerGroup;
  return prefix !== undefined
    ? `${prefix}.${embeddingVersion}`
    : consumerGroup(pipeline.metadata.namespace ?? "default", pipeline.metadata.name, embeddingVersion);
}

/**
 * Renders the worker config of `version`; secrets it needs are registered on `wiring`; `secretKeys`
 * (the key names of the Secrets as read) tells whether the serving TLS Secret has a ca.crt.
 */
export function desiredWorkerConfig(
  pipeline: NearlinePipeline,
  model: EmbeddingModel,
  version: LiveVersion,
  wiring: SecretWiring,
  secretKeys?: SecretKeyNames,
): NearlineConfigInput {
  const spec = pipeline.spec;
  return {
    pipeline: { namespace: pipeline.metadata.namespace ?? "default", name: pipeline.metadata.name },
    entity: spec.entity,
    model: modelConfig(version, spec.entity),
    source: {
      kafka: {
        ...kafkaConnectionConfig(pipeline, wiring),
        topic: spec.source.kafka.topic,
        consumerGroup: workerConsumerGroup(pipeline, version.version),
        startOffset: spec.source.kafka.startOffset === "Earliest" ? "earliest" : "latest",
      },
    },
    decode: decodeConfig(pipeline),
    extract: { ...spec.extract },
    changeDetection: { enabled: spec.changeDetection.enabled },
    embedding: embeddingConfig(pipeline, version, wiring, secretKeys),
    sinks: {
      store: storeConfig(pipeline, wiring),
      ...(spec.sinks.kafka !== undefined ? { kafka: { topic: spec.sinks.kafka.topic } } : {}),
      ...(spec.sinks.deadLetter !== undefined ? { deadLetter: { topic: spec.sinks.deadLetter.topic } } : {}),
    },
    http: { port: workerOpsPort },
  };
}
