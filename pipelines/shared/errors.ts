/**
 * The pipelines' error catalogue. Failures the nearline and bootstrap code raise itself are a
 * `PipelineError` with a stable `code`, so the workers decide (retry, fail, report) on codes and
 * types, never on message text; errors of the store, Kafka and the embedding server keep their own
 * typed classes and are classified by `dependencyOf`.
 */
import { isStoreError, isTransientRedisError } from "../../store/index.ts";

/** Stable error codes of the pipelines. */
export const PipelineErrorCodes = {
  /** The embedding server serves another model than this version's digest: nothing may be written. */
  MODEL_MISMATCH: "MODEL_MISMATCH",
  /** The embedding server answered a different number of vectors than texts sent. */
  EMBEDDING_COUNT_MISMATCH: "EMBEDDING_COUNT_MISMATCH",
  /** The store's text cache of this version holds a vector of another model. */
  TEXT_CACHE_MODEL_MISMATCH: "TEXT_CACHE_MODEL_MISMATCH",
  /** The version is being deleted by garbage collection; writing would recreate its keys. */
  VERSION_DELETING: "VERSION_DELETING",
  /** Another pod holds this bootstrap shard's checkpoint. */
  CHECKPOINT_CONFLICT: "CHECKPOINT_CONFLICT",
  /** A bootstrap checkpoint in the store does not decode. */
  CHECKPOINT_CORRUPT: "CHECKPOINT_CORRUPT",
  /** A Kafka offset to resume from no longer exists and the log start did not move past it. */
  OFFSET_OUT_OF_RANGE: "OFFSET_OUT_OF_RANGE",
  /** The source URI scheme is not one the bootstrap reads. */
  UNSUPPORTED_SOURCE: "UNSUPPORTED_SOURCE",
  /** The brokers refused the worker's TLS or SASL settings (credentials, certificate, listener). */
  KAFKA_REFUSED: "KAFKA_REFUSED",
  /** A topic the config names does not exist (the workers never create topics). */
  TOPIC_MISSING: "TOPIC_MISSING",
  /** A topic the config names has settings the worker cannot work with (a compacted dead-letter topic). */
  TOPIC_UNSUITABLE: "TOPIC_UNSUITABLE",
  /** The output or dead-letter topic refuses a record by its size alone (its max.message.bytes). */
  OUTPUT_REFUSED: "OUTPUT_REFUSED",
  /** The Kafka consumer loop ended although nobody stopped it. */
  CONSUMER_ENDED: "CONSUMER_ENDED",
} as const;

export type PipelineErrorCode = (typeof PipelineErrorCodes)[keyof typeof PipelineErrorCodes];

/** An error raised by the pipelines themselves; none of these is cured by retrying. */
export class PipelineError extends Error {
  override readonly name = "PipelineError";
  readonly code: PipelineErrorCode;
  readonly retryable = false;

  constructor(code: PipelineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** True for a PipelineError, optionally of one code. */
export function isPipelineError(error: unknown, code?: PipelineErrorCode): error is PipelineError {
  return error instanceof PipelineError && (code === undefined || error.code === code);
}

/** The dependency a failure came from, for the `dependency` label of the retry metric. */
export function dependencyOf(error: unknown): "store" | "kafka" | "embedding" | "pipeline" {
  if (isStoreError(error) || isTransientRedisError(error)) return "store";
  if (isKafkaClientError(error)) return "kafka";
  if (isPipelineError(error)) return "pipeline";
  return "embedding";
}

/** Walks an error, its `errors` (aggregates) and its `cause` chain; true when any one matches. */
export function someError(error: unknown, matches: (candidate: Record<string, unknown>) => boolean): boolean {
  const seen = new Set<unknown>();
  const visit = (value: unknown): boolean => {
    if (value === null || typeof value !== "object" || seen.has(value)) return false;
    seen.add(value);
    const candidate = value as Record<string, unknown>;
    if (matches(candidate)) return true;
    if (Array.isArray(candidate.errors) && candidate.errors.some(visit)) return true;
    return visit(candidate.cause);
  };
  return visit(error);
}

/** An error of the Kafka client: its codes all start with PLT_KFK_. */
function isKafkaClientError(error: unknown): boolean {
  return someError(
    error,
    (candidate) => typeof candidate.code === "string" && candidate.code.startsWith("PLT_KFK_"),
  );
}
