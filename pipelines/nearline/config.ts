/**
 * `jude nearline --config <file>`: one worker process serves one embedding version of one pipeline.
 * The operator renders this file (YAML or JSON) from NearlinePipeline + EmbeddingModel; see the
 * README's "Nearline worker config" for an example.
 */
import { z } from "zod";
import { loadConfigFile } from "../../plumbing/config-file.ts";
import {
  decodeSection,
  embeddingSection,
  kafkaConnection,
  modelSection,
  storeSection,
} from "../shared/config-common.ts";

export const nearlineConfigSchema = z.strictObject({
  pipeline: z.strictObject({ namespace: z.string().default("default"), name: z.string().min(1) }),
  entity: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  model: modelSection,
  source: z.strictObject({
    kafka: kafkaConnection.extend({
      topic: z.string().min(1),
      consumerGroup: z.string().min(1),
      startOffset: z.enum(["earliest", "latest"]).default("earliest"),
    }),
  }),
  decode: decodeSection.prefault({}),
  extract: z
    .record(z.string(), z.string())
    .refine((value) => Object.keys(value).length > 0, "at least one field"),
  changeDetection: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
  embedding: embeddingSection,
  sinks: z.strictObject({
    store: storeSection,
    kafka: z.strictObject({ topic: z.string().min(1) }).optional(),
    deadLetter: z.strictObject({ topic: z.string().min(1) }).optional(),
  }),
  batching: z
    .strictObject({
      maxEvents: z.int().min(1).max(100_000).default(512),
      lingerMs: z.int().min(0).max(10_000).default(20),
    })
    .prefault({}),
  http: z.strictObject({ port: z.int().min(0).max(65535).default(9090) }).prefault({}),
});
export type NearlineConfig = z.infer<typeof nearlineConfigSchema>;

/** Reads and validates a worker config file (YAML or JSON); a ConfigError lists every problem. */
export function loadNearlineConfig(path: string): NearlineConfig {
  return loadConfigFile(nearlineConfigSchema, path, "nearline config");
}
