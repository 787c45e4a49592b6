/** The serving config schema (the contract the operator renders from an EmbeddingModel) and its parsing. */
import { z } from "zod";
import { ConfigError, parseConfig, readConfigDocument } from "../plumbing/config-file.ts";
import { LOG_LEVELS } from "../plumbing/logger.ts";

export { ConfigError };

const port = z.number().int().min(0).max(65_535);
const promptName = z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, "letters, digits, '_', '.', '-' (at most 63)");

/**
 * The serving config: the file the operator renders from an EmbeddingModel (spec.model, spec.prompts,
 * spec.serving.batching, TLS and auth Secret mounts), overridable by flags and environment variables.
 * Every default is stated here and nowhere else.
 */
export const servingConfigSchema = z
  .object({
    modelDir: z.string().min(1),
    model: z
      .object({
        name: z.string().min(1).optional(),
        /** The embedding version (EmbeddingModel spec.version); defaults to the manifest. */
        version: z.string().min(1).optional(),
        /** "sha256:<hex>" of the artifact the init container verified. */
        digest: z
          .string()
          .regex(/^sha256:[0-9a-f]{64}$/)
          .optional(),
        precision: z.enum(["fp32", "fp16", "int8"]).default("fp32"),
        pooling: z.enum(["mean", "cls", "last-token"]).optional(),
        normalize: z.boolean().optional(),
        maxSequenceLength: z.number().int().positive().optional(),
        dimensions: z.number().int().positive().optional(),
      })
      .prefault({}),
    /** Prompt (entity) name -> a prefix, or a template with {{field}} placeholders ({{text}} = the input). */
    prompts: z.record(promptName, z.string()).default({}),
    batching: z
      .object({
        maxBatchTokens: z.number().int().positive().default(16_384),
        maxBatchSize: z.number().int().positive().default(32),
        maxQueueDelayMs: z.number().min(0).max(1_000).default(2),
        /** Inputs in flight (queued or computing) before calls fail fast with RESOURCE_EXHAUSTED. */
        maxConcurrentRequests: z.number().int().positive().default(512),
      })
      .prefault({}),
    limits: z
      .object({
        maxInputsPerCall: z.number().int().positive().default(128),
        maxMessageBytes: z
          .number()
          .int()
          .min(1024)
          .default(4 * 1024 * 1024),
      })
      .prefault({}),
    backend: z
      .object({
        executionProvider: z.enum(["cpu", "cuda", "auto"]).default("auto"),
        /** 0 lets ONNX Runtime choose (one thread per physical core). */
        intraOpThreads: z.number().int().min(0).default(0),
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
  .refine((config) => config.limits.maxInputsPerCall <= config.batching.maxConcurrentRequests, {
    message:
      "limits.maxInputsPerCall must not exceed batching.maxConcurrentRequests (a call needs a permit per input)",
    path: ["limits", "maxInputsPerCall"],
  });

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
