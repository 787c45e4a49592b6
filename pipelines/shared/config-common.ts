/**
 * Config pieces shared by `jude nearline` and `jude bootstrap`. The operator renders these files from
 * the NearlinePipeline, EmbeddingModel and BootstrapRun resources into a ConfigMap; secrets never
 * appear in them — only the names of environment variables or files (mounted Secrets) holding them.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";

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

/** The embedding model version a worker serves and how its text is built. */
export const modelSection = z.strictObject({
  version: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
    .max(63),
  digest: z.string().min(1).max(128),
  dimensions: z.int().min(1).max(65536),
  template: z.string().min(1).max(8192),
});

/** How entity changes are decoded (NearlinePipeline.spec.decode). */
export const decodeSection = z.strictObject({
  format: z.literal("json").default("json"),
  keyPath: z.string().optional(),
  eventTimePath: z.string().optional(),
  delete: z.strictObject({ path: z.string(), values: z.array(z.string()).min(1) }).optional(),
});

/** Kafka connection (NearlinePipeline.spec.source.kafka without topic/group). */
export const kafkaConnection = z.strictObject({
  bootstrapServers: z.array(z.string().min(1)).min(1),
  tls: z
    .strictObject({
      caFile: z.string().optional(),
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
    })
    .optional(),
  sasl: z
    .strictObject({
      mechanism: z.enum(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
      username: secretSource,
      password: secretSource,
    })
    .optional(),
});
export type KafkaConnection = z.infer<typeof kafkaConnection>;

/** The gRPC embedding server of this version. */
export const embeddingSection = z.strictObject({
  endpoint: z.string().min(1).describe("host:port of the version's embedding Service"),
  tls: z.strictObject({ caFile: z.string().optional() }).optional(),
  token: secretSource.optional(),
  maxBatchSize: z.int().min(1).max(4096).default(64),
  maxInflight: z.int().min(1).max(64).default(4),
  timeoutMs: z.int().min(100).default(30_000),
});

/**
 * The versioned store (NearlinePipeline.spec.sinks.store). The URL secret holds `redis://…` (or
 * `rediss://…`) for a standalone server, or a comma-separated `host:port` list of cluster seed nodes
 * when `cluster` is true.
 */
export const storeSection = z.strictObject({
  name: z.string().min(1),
  url: secretSource.default({ env: "JUDE_STORE_URL" }),
  cluster: z.boolean().default(false),
  dtype: z.enum(["f32", "f16"]).default("f32"),
});
