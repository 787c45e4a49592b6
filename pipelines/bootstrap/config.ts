/**
 * `jude bootstrap --config <file>`: one shard (one index of the run's Indexed Job) back-fills one
 * embedding version. The operator renders this file from BootstrapRun + NearlinePipeline +
 * EmbeddingModel; README.md in this folder documents every field with an example.
 */
import { z } from "zod";
import { loadConfigFile } from "../../plumbing/config-file.ts";
import {
  bootstrapRunSpec,
  bootstrapScope,
  partitionWatermark as crdPartitionWatermark,
} from "../../crds/bootstrap-run.ts";
import { dnsLabel } from "../../crds/common.ts";
import { nearlinePipelineSpec } from "../../crds/nearline-pipeline.ts";
import {
  decodeSection,
  embeddingSection,
  extractSection,
  kafkaConnection,
  kafkaTopic,
  modelSection,
  storeSection,
} from "../shared/config-common.ts";

/** One partition's end offset (exclusive): BootstrapRun.status.watermarks.partitions, the same schema. */
export const partitionWatermark = crdPartitionWatermark;
export type PartitionWatermark = z.infer<typeof partitionWatermark>;

const kafkaSource = kafkaConnection.safeExtend({
  topic: kafkaTopic,
  /**
   * End offsets captured by the operator when the run started. Absent: the shard captures them at its
   * first start and keeps them in its checkpoint, so a restart reads up to the same offsets.
   */
  watermarks: z.array(partitionWatermark).min(1).optional(),
});

const filesSource = z.strictObject({
  uris: z
    .array(z.string().regex(/^(file:\/\/\/|https:\/\/)[!-~]+$/, "must be a file:/// or https:// URI"))
    .min(1)
    .max(10_000),
  /**
   * How files are split over shards: `file` gives each shard whole files (index i takes files i, i+N,
   * ...); `id` makes every shard read every file and keep the lines whose entity id hashes to it;
   * `auto` is `file` when there are at least as many files as shards, else `id`.
   */
  split: z.enum(["auto", "file", "id"]).default("auto"),
  /** Extra CA certificate (PEM file) trusted for https:// URIs, e.g. an internal CA. */
  caFile: z.string().min(1).optional(),
});

export const bootstrapConfigSchema = z
  .strictObject({
    run: z.strictObject({
      namespace: dnsLabel().default("default"),
      name: dnsLabel(),
      /**
       * The BootstrapRun's uid. Part of the work fingerprint, so a run deleted and created again under
       * its name does its work again instead of resuming (or finishing on) its predecessor's checkpoints.
       */
      uid: z.string().min(1).optional(),
    }),
    entity: nearlinePipelineSpec.shape.entity,
    model: modelSection,
    source: z
      .strictObject({ kafka: kafkaSource.optional(), files: filesSource.optional() })
      .refine((source) => (source.kafka === undefined) !== (source.files === undefined), {
        message: "set exactly one of kafka or files",
      }),
    decode: decodeSection.prefault({}),
    extract: extractSection,
    embedding: embeddingSection,
    store: storeSection,
    shards: z.strictObject({
      /** spec.parallelism. */
      count: bootstrapRunSpec.shape.parallelism.unwrap(),
      /** This shard's index; defaults to the Indexed Job's JOB_COMPLETION_INDEX. */
      index: z.int().min(0).optional(),
    }),
    scope: bootstrapScope.prefault({}),
    dedupe: bootstrapRunSpec.shape.dedupe,
    textCache: z
      .strictObject({
        /** How long a shard's claim on a text it is embedding holds off other shards. */
        leaseMs: z.int().min(1_000).default(120_000),
        /** First wait before asking again for texts another shard is embedding (doubles, capped). */
        pollMs: z.int().min(10).max(60_000).default(200),
        /** Vectors kept in this process so repeated texts skip the store round trip. */
        localEntries: z.int().min(0).max(10_000_000).default(50_000),
      })
      .prefault({}),
    batching: z
      .strictObject({
        /** Entities per batch; one batch is the unit of checkpointing. */
        maxEntities: z.int().min(1).max(100_000).default(1024),
        /** Batches in flight at once, so store work of one overlaps inference of the next. */
        inflightBatches: z.int().min(1).max(16).default(2),
      })
      .prefault({}),
    checkpoint: z
      .strictObject({
        /** How long a finished shard's checkpoint stays readable (the operator reads final counts). */
        retainSeconds: z
          .int()
          .min(60)
          .default(7 * 24 * 3600),
        /** Interval of the `--progress` JSON lines. */
        progressIntervalMs: z.int().min(100).default(5_000),
      })
      .prefault({}),
    http: z.strictObject({ port: z.int().min(0).max(65535).optional() }).prefault({}),
  })
  .refine((config) => config.source.files === undefined || config.decode.keyPath !== undefined, {
    message: "a files source needs decode.keyPath: file lines have no record key (recordKeyPath reads one)",
    path: ["decode", "keyPath"],
  });

/** The validated file, before the shard index is resolved. */
export type BootstrapConfigFile = z.infer<typeof bootstrapConfigSchema>;

/** A config whose shard index is known. */
export type BootstrapConfig = BootstrapConfigFile & {
  shards: { count: number; index: number };
};

/**
 * Resolves the shard index: `shards.index` when set, else the Indexed Job's JOB_COMPLETION_INDEX.
 * Throws when neither is set or the index is outside 0..count-1.
 */
export function resolveShardIndex(config: BootstrapConfigFile, env: NodeJS.ProcessEnv): BootstrapConfig {
  let index = config.shards.index;
  if (index === undefined) {
    const text = env.JOB_COMPLETION_INDEX;
    if (text === undefined || !/^[0-9]{1,5}$/.test(text)) {
      throw new Error(
        "shard index unknown: set shards.index or run as an Indexed Job (JOB_COMPLETION_INDEX)",
      );
    }
    index = Number(text);
  }
  if (index >= config.shards.count) {
    throw new Error(`shard index ${index} is outside 0..${config.shards.count - 1}`);
  }
  return { ...config, shards: { count: config.shards.count, index } };
}

/** Reads, validates and resolves a shard config file (YAML or JSON). */
export function loadBootstrapConfig(path: string, env: NodeJS.ProcessEnv = process.env): BootstrapConfig {
  return resolveShardIndex(loadConfigFile(bootstrapConfigSchema, path, "bootstrap config"), env);
}
