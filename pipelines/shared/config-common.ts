/**
 * Config pieces shared by `jude nearline` and `jude bootstrap`. The operator renders these files from
 * the NearlinePipeline, EmbeddingModel and BootstrapRun resources into a ConfigMap; every field that
 * the resources also have takes its schema from crds/ (one source of truth, checked by
 * crds/worker-config-parity.test.ts). Secrets never appear in them — only the names of environment
 * variables or files (mounted Secrets) holding them.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { embeddingModelSpec, modelArtifact, promptTemplate } from "../../crds/embedding-model.ts";
import { decode, extract, sinks, workers } from "../../crds/nearline-pipeline.ts";
import { kafkaSasl, kafkaSource } from "../../crds/nearline-pipeline-kafka.ts";
import { DEFAULT_TOKEN_REFUSED_RETRY_SECONDS } from "./token-refusals.ts";

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name");

/** A secret value read from an environment variable or a file, never written into the config itself. */
export const secretSource = z
  .strictObject({ env: envName.optional(), file: z.string().min(1).optional() })
  .refine((value) => (value.env === undefined) !== (value.file === undefined), {
    message: "set exactly one of env or file",
  });
export type SecretSource = z.infer<typeof secretSource>;

/** Resolves a secret; the error names where it looked, never the value. */
export function readSecret(source: SecretSource, what: string): string {
  if (source.env !== undefined) {
    const value = process.env[source.env];
    if (value === undefined || value === "")
      throw new Error(`${what}: environment variable ${source.env} is not set`);
    return value;
  }
  try {
    return readFileSync(source.file!, "utf8").trim();
  } catch (error) {
    throw new Error(
      `${what}: cannot read ${source.file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      { cause: error },
    );
  }
}

/**
 * The embedding model version a worker serves and how its text is built. `version`, `dimensions` and
 * `template` are the EmbeddingModel's own fields; `digest` is resolved by the operator ("sha256:<hex>"
 * of the artifact the version's server verified), so it has no CRD twin.
 */
export const modelSection = z.strictObject({
  version: embeddingModelSpec.shape.version,
  digest: z.string().min(1).max(128),
  dimensions: modelArtifact.shape.dimensions,
  template: promptTemplate,
  /**
   * The EmbeddingModel's settings that shape the version's vectors besides its file and template
   * (store/versions.ts VectorSettings), registered with the version so that a spec re-applied under
   * the same name with another of them is refused. Absent in a config an older operator rendered: the
   * worker then registers without them (and checks none).
   */
  vectorSettings: z
    .strictObject({
      pooling: modelArtifact.shape.pooling.unwrap(),
      normalize: modelArtifact.shape.normalize.unwrap(),
      maxSequenceLength: modelArtifact.shape.maxSequenceLength.unwrap(),
      precision: modelArtifact.shape.precision.unwrap(),
    })
    .optional(),
});

/** How entity changes are decoded: NearlinePipeline.spec.decode, the same schema. */
export const decodeSection = decode;

/** Prompt fields to extract: NearlinePipeline.spec.extract, the same schema. */
export const extractSection = extract;

/**
 * Kafka connection: brokers and topic grammar of NearlinePipeline.spec.source.kafka. Secrets differ by
 * design: the resource references Secret keys, the worker reads the mounted files or environment
 * variables the operator wires them to.
 */
export const kafkaConnection = z
  .strictObject({
    bootstrapServers: kafkaSource.shape.bootstrapServers,
    tls: z
      .strictObject({
        caFile: z.string().optional(),
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
      })
      .optional(),
    sasl: z
      .strictObject({
        mechanism: kafkaSasl.shape.mechanism.unwrap(),
        username: secretSource,
        password: secretSource,
      })
      .optional(),
  })
  .refine((kafka) => kafka.sasl?.mechanism !== "PLAIN" || kafka.tls !== undefined, {
    message: "SASL PLAIN sends the password in clear text: enable tls or use a SCRAM mechanism",
    path: ["sasl", "mechanism"],
  });
export type KafkaConnection = z.infer<typeof kafkaConnection>;

/** A Kafka topic name, as the resources validate it. */
export const kafkaTopic = kafkaSource.shape.topic;

/** The gRPC embedding server of this version; batch size and calls in flight as in spec.workers. */
export const embeddingSection = z.strictObject({
  endpoint: z.string().min(1).describe("host:port of the version's embedding Service"),
  tls: z.strictObject({ caFile: z.string().optional() }).optional(),
  token: secretSource.optional(),
  /**
   * How long calls the server refuses (UNAUTHENTICATED) are retried, the token read again before each
   * try, before the worker fails: a rotated token reaches the worker's and the servers' pods at
   * different moments (pipelines/shared/token-refusals.ts). 0: fail at the first refusal.
   */
  tokenRefusedRetrySeconds: z.int().min(0).max(3600).default(DEFAULT_TOKEN_REFUSED_RETRY_SECONDS),
  maxBatchSize: workers.shape.maxBatchSize,
  maxInflight: workers.shape.maxInflight,
  timeoutMs: z.int().min(100).default(30_000),
});

/**
 * The versioned store (NearlinePipeline.spec.sinks.store; `name` is its schema). The URL secret holds
 * `redis://…` (or `rediss://…`) for a standalone server, or a comma-separated `host:port` list of
 * cluster seed nodes when `cluster` is true.
 */
export const storeSection = z.strictObject({
  name: sinks.shape.store.shape.name,
  url: secretSource.default({ env: "JUDE_STORE_URL" }),
  cluster: z.boolean().default(false),
  dtype: z.enum(["f32", "f16"]).default("f32"),
  /**
   * When an acknowledged write counts as durable, i.e. when offsets may be committed after it (README,
   * "Delivery guarantees"): NearlinePipeline.spec.sinks.store.durability, the same schema. Unset:
   * Redis's acknowledgement. `replicas`: WAIT for that many replicas; `fsync`: WAITAOF, the primary
   * (and those replicas) fsynced the AOF — Redis >= 7.2.
   */
  durability: sinks.shape.store.shape.durability,
});
