/** The serving config schema (the contract the operator renders from an EmbeddingModel) and its parsing. */
import { z } from "zod";
import { embeddingModelSpec, modelArtifact, promptTemplate } from "../crds/embedding-model.ts";
import { batching as crdBatching } from "../crds/embedding-model-serving.ts";
import { ConfigError, parseConfig, readConfigDocument } from "../plumbing/config-file.ts";
import { LOG_LEVELS } from "../plumbing/logger.ts";

export { ConfigError };

/** Inputs one call may carry unless the config says otherwise (TEI's max-client-batch-size is 32). */
const DEFAULT_MAX_INPUTS_PER_CALL = 128;

/**
 * The most inputs one call may carry when `limits.maxInputsPerCall` is not set (as the operator
 * renders the config): 128, or fewer when the replica holds fewer at once. Pipelines' calls to a
 * model's servers are capped at it (a larger call is refused whole with TOO_MANY_INPUTS).
 */
export function defaultMaxInputsPerCall(maxConcurrentRequests: number): number {
  return Math.min(DEFAULT_MAX_INPUTS_PER_CALL, maxConcurrentRequests);
}

const port = z.number().int().min(0).max(65_535);

const promptName = z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, "letters, digits, '_', '.', '-' (at most 63)");

/**
 * The serving config: the file the operator renders from an EmbeddingModel (spec.model, spec.prompts,
 * spec.serving.batching, TLS and auth Secret mounts), overridable by flags and environment variables.
 * Fields the EmbeddingModel also has take their schema (and default) from crds/; every other default
 * is stated here and nowhere else. Prompt names are wider than the resource's entity names: clients
 * name prompts too (`query`, TEI's prompt_name).
 */
export const servingConfigSchema = z
  .object({
    modelDir: z.string().min(1),
    model: z
      .object({
        name: z.string().min(1).optional(),
        /** The embedding version (EmbeddingModel spec.version); defaults to the manifest. */
        version: embeddingModelSpec.shape.version.optional(),
        /** "sha256:<hex>" of the artifact the init container verified. */
        digest: z
          .string()
          .regex(/^sha256:[0-9a-f]{64}$/)
          .optional(),
        // spec.model's fields; unset ones (but precision) come from the model's manifest.
        precision: modelArtifact.shape.precision,
        pooling: modelArtifact.shape.pooling.unwrap().optional(),
        normalize: modelArtifact.shape.normalize.unwrap().optional(),
        maxSequenceLength: modelArtifact.shape.maxSequenceLength.unwrap().optional(),
        dimensions: modelArtifact.shape.dimensions.optional(),
      })
      .prefault({}),
    /** Prompt (entity) name -> a prefix, or a template with {{field}} placeholders ({{text}} = the input). */
    prompts: z.record(promptName, promptTemplate).default({}),
    /** EmbeddingModel spec.serving.batching, the same schema (and so the same defaults). */
    batching: crdBatching.prefault({}),
    limits: z
      .object({
        /** Default: 128, or batching.maxConcurrentRequests when that is smaller. */
        maxInputsPerCall: z.number().int().positive().optional(),
        maxMessageBytes: z
          .number()
          .int()
          .min(1024)
          .default(4 * 1024 * 1024),
        /**
         * A gRPC connection with no call in progress for this long is closed (GOAWAY), so idle or
         * abandoned connections cannot pile up (the HTTP side closes idle keep-alives after 65 s).
         * Clients reconnect on their next call. Above common load-balancer idle timeouts.
         */
        grpcIdleConnectionMs: z.number().int().min(1000).default(300_000),
        /**
         * Every connection is ended after this long, whether busy or not (gRPC: GOAWAY, running calls
         * get 30 s more; HTTP: `Connection: close` on the next answer), and the client reconnects.
         * A Kubernetes Service balances connections, not calls: without this, a busy client (a
         * nearline worker, a query encoder) stays on the pod it first reached, and pods added by
         * scaling out never get its calls. ±10% jitter per connection so clients do not reconnect at
         * once. An age beyond 2^31 - 1 ms (about 24.8 days, the longest a timer waits) is taken as that.
         */
        maxConnectionAgeMs: z.number().int().min(1000).default(120_000),
        /**
         * Longest an HTTP request may take to arrive, body included (408 and the connection closed
         * beyond it): a slow sender holds part of the shared budget for request bodies until then.
         */
        httpRequestTimeoutMs: z.number().int().min(1000).default(30_000),
      })
      .prefault({}),
    backend: z
      .object({
        executionProvider: z.enum(["cpu", "cuda", "auto"]).default("auto"),
        /**
         * Threads per operator in each worker's session; 0 divides the cores (the cgroup CPU limit
         * included) among the workers. See backend/inference-plan.ts.
         */
        intraOpThreads: z.number().int().min(0).default(0),
        /** Inference worker threads (one session each); 0 = 2 on a CPU with two cores or more (batches side by side), else 1. */
        inferenceWorkers: z.number().int().min(0).max(64).default(0),
        /** On the CPU, batches hold at most this many tokens (and at least one longest input); 0: no cap. */
        cpuMaxBatchTokens: z.number().int().min(0).default(1024),
        interOpThreads: z.number().int().min(0).default(1),
        /** Idle ONNX Runtime threads spin for work: lower latency on dedicated cores, waste on shared ones. */
        allowSpinning: z.boolean().default(false),
        cudaDeviceId: z.number().int().min(0).default(0),
      })
      .prefault({}),
    listen: z
      .object({
        host: z.string().default("0.0.0.0"),
        grpcPort: port.default(50_051),
        httpPort: port.default(8_080),
      })
      .prefault({}),
    tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
    auth: z.object({ tokenFile: z.string().min(1) }).optional(),
    /** Time allowed for in-flight calls to finish after SIGTERM; keep below terminationGracePeriodSeconds. */
    drainTimeoutMs: z.number().int().positive().default(25_000),
    /** Absent: JUDE_LOG_LEVEL, else info (plumbing/logger.ts). */
    logLevel: z.enum(LOG_LEVELS).optional(),
  })
  .refine(
    (config) =>
      config.limits.maxInputsPerCall === undefined ||
      config.limits.maxInputsPerCall <= config.batching.maxConcurrentRequests,
    {
      message:
        "limits.maxInputsPerCall must not exceed batching.maxConcurrentRequests (a call needs a permit per input)",
      path: ["limits", "maxInputsPerCall"],
    },
  )
  // The EmbeddingModel's own rule, checked here when the config states the length (else at start-up,
  // against the manifest's).
  .refine(
    (config) =>
      config.model.maxSequenceLength === undefined ||
      config.batching.maxBatchTokens >= config.model.maxSequenceLength,
    {
      message:
        "batching.maxBatchTokens must be at least model.maxSequenceLength, or a long text can never be batched",
      path: ["batching", "maxBatchTokens"],
    },
  )
  .transform((config) => ({
    ...config,
    limits: {
      ...config.limits,
      maxInputsPerCall:
        config.limits.maxInputsPerCall ?? defaultMaxInputsPerCall(config.batching.maxConcurrentRequests),
    },
  }));

/** A validated serving config with every default filled in. */
export type ServingConfig = z.infer<typeof servingConfigSchema>;
/** What a config file or a caller may leave out. */
export type ServingConfigInput = z.input<typeof servingConfigSchema>;

/** Validates a config object; throws a ConfigError listing every problem with its field path. */
export function parseServingConfig(input: unknown): ServingConfig {
  return parseConfig(servingConfigSchema, input, "serving config");
}

/** Reads a config file, JSON or YAML, into a mapping (an empty file is an empty mapping). */
export function readConfigFile(path: string): Record<string, unknown> {
  return readConfigDocument(path, "serving config");
}

/** Deep-merges plain objects; later sources win, arrays and scalars are replaced. */
export function mergeConfig(...sources: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const source of sources) {
    for (const [key, value] of Object.entries(source)) {
      if (value === undefined) continue;
      const existing = merged[key];
      merged[key] = isPlainObject(existing) && isPlainObject(value) ? mergeConfig(existing, value) : value;
    }
  }
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
