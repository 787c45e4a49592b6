/**
 * `jude nearline --config <file>`: one worker process serves one embedding version of one pipeline.
 * The operator renders this file (YAML or JSON) from NearlinePipeline + EmbeddingModel; see the
 * README's "Nearline worker" section for an example.
 */
import { z } from "zod";
import { loadConfigFile } from "../../plumbing/config-file.ts";
import { dnsLabel, dnsSubdomain } from "../../crds/common.ts";
import {
  changeDetection,
  deadLetterTopicRule,
  nearlinePipelineSpec,
  outputTopicRule,
  sinkTopicsRule,
  sinks,
} from "../../crds/nearline-pipeline.ts";
import { kafkaTopicPattern } from "../../crds/patterns.ts";
import {
  decodeSection,
  embeddingSection,
  extractSection,
  kafkaConnection,
  kafkaTopic,
  modelSection,
  storeSection,
} from "../shared/config-common.ts";

/**
 * How long a stopping worker (SIGTERM) waits for its batch in hand to be written and committed before
 * abandoning it uncommitted for the next owner. The operator's pods give it this and 10 s more for the
 * group leave and the closes that follow (controllers/nearline-pipeline/worker-deployment.ts).
 */
export const workerDrainMs = 20_000;

export const nearlineConfigSchema = z
  .strictObject({
    pipeline: z.strictObject({ namespace: dnsLabel().default("default"), name: dnsSubdomain() }),
    entity: nearlinePipelineSpec.shape.entity,
    model: modelSection,
    source: z.strictObject({
      kafka: kafkaConnection.safeExtend({
        topic: kafkaTopic,
        /** The full group of this version's workers (`<spec consumerGroup>.<version>`). */
        consumerGroup: z
          .string()
          .min(1)
          .max(264)
          .regex(kafkaTopicPattern, "letters, digits, '.', '_' and '-', not '.' or '..'"),
        /** Resolved by the operator from spec startOffset and any bootstrap watermarks. */
        startOffset: z.enum(["earliest", "latest"]).default("earliest"),
        /**
         * How long the group waits for a silent worker before moving its partitions (and, as the
         * rebalance timeout, for a member to rejoin). With static membership (JUDE_POD_NAME) a crashed
         * worker's restart takes its partitions back at once whatever this is, so it only bounds how
         * long the partitions of a pod that never comes back stand still. Within the broker's
         * group.min/max.session.timeout.ms (6 s and 30 min by default).
         */
        sessionTimeoutMs: z.int().min(6_000).max(1_800_000).default(20_000),
      }),
    }),
    decode: decodeSection.prefault({}),
    extract: extractSection,
    changeDetection: changeDetection.prefault({}),
    embedding: embeddingSection,
    sinks: z.strictObject({
      store: storeSection,
      kafka: sinks.shape.kafka,
      deadLetter: sinks.shape.deadLetter,
    }),
    batching: z
      .strictObject({
        maxEvents: z.int().min(1).max(100_000).default(512),
        lingerMs: z.int().min(0).max(10_000).default(20),
      })
      .prefault({}),
    http: z.strictObject({ port: z.int().min(0).max(65535).default(9090) }).prefault({}),
  })
  // The resource's own topic rules, so a config the operator renders from an admitted spec passes.
  .refine(deadLetterTopicRule.holds, { message: deadLetterTopicRule.message, path: ["sinks", "deadLetter"] })
  .refine(outputTopicRule.holds, { message: outputTopicRule.message, path: ["sinks", "kafka"] })
  .refine(sinkTopicsRule.holds, { message: sinkTopicsRule.message, path: ["sinks", "deadLetter"] });
export type NearlineConfig = z.infer<typeof nearlineConfigSchema>;

/** Reads and validates a worker config file (YAML or JSON); a ConfigError lists every problem. */
export function loadNearlineConfig(path: string): NearlineConfig {
  return loadConfigFile(nearlineConfigSchema, path, "nearline config");
}
