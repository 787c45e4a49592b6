/** The embedding client's error: gRPC status plus the server's stable error code, and whether to retry. */
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";

/** A failed call to the embedding server, with the gRPC status and the server's stable error code. */
export class EmbeddingClientError extends Error {
  override readonly name = "EmbeddingClientError";
  /** The gRPC status code. */
  readonly code: GrpcStatus;
  /** e.g. JUDE_SERVING_OVERLOADED; undefined when the failure did not come from the server's catalogue. */
  readonly errorCode: string | undefined;

  constructor(
    code: GrpcStatus,
    message: string,
    errorCode: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.errorCode = errorCode;
  }

  /** The status name, e.g. "RESOURCE_EXHAUSTED". */
  get statusName(): string {
    return GrpcStatus[this.code] ?? String(this.code);
  }

  /** True when the same call may succeed later or on another replica. */
  get retryable(): boolean {
    if (this.code === GrpcStatus.UNAVAILABLE || this.code === GrpcStatus.DEADLINE_EXCEEDED) return true;
    // Only the server's own overload answer is retryable; any other RESOURCE_EXHAUSTED (the server's
    // message size limit, or grpc-js's, which carries no code) will never fit however often it is sent.
    return this.code === GrpcStatus.RESOURCE_EXHAUSTED && this.errorCode === "JUDE_SERVING_OVERLOADED";
  }

  /** Wraps a grpc-js error. */
  static fromServiceError(error: ServiceError): EmbeddingClientError {
    const trailer = error.metadata?.get("jude-error-code")[0];
    return new EmbeddingClientError(
      error.code,
      error.details || error.message,
      typeof trailer === "string" ? trailer : undefined,
      {
        cause: error,
      },
    );
  }
}

/** For pipelines' retry loops: true for errors worth retrying (unavailable, overloaded, deadline). */
export function isRetryableEmbeddingError(error: unknown): boolean {
  return error instanceof EmbeddingClientError && error.retryable;
}

/**
 * For pipelines: true when the server failed the call itself (INTERNAL, e.g. JUDE_SERVING_BACKEND_FAILED,
 * or UNKNOWN, a handler that threw) or did not answer it within the deadline (DEADLINE_EXCEEDED: a slow
 * server, or a text that hangs the model and would time out on every call): maybe a passing fault, maybe
 * a text the model cannot take. Pipelines retry such a call a few times, then ask whether the server
 * answers a harmless text in time (see `embedIsolatingRefusals`) before blaming any text. UNAVAILABLE
 * and overload (RESOURCE_EXHAUSTED JUDE_SERVING_OVERLOADED) are not: they are waited out, never blamed
 * on a text.
 */
export function isEmbeddingServerFailure(error: unknown): boolean {
  return (
    error instanceof EmbeddingClientError &&
    (error.code === GrpcStatus.INTERNAL ||
      error.code === GrpcStatus.UNKNOWN ||
      error.code === GrpcStatus.DEADLINE_EXCEEDED)
  );
}

/** "INTERNAL JUDE_SERVING_BACKEND_FAILED: message" for an embedding error; the message for others. */
export function describeEmbeddingError(error: unknown): string {
  if (error instanceof EmbeddingClientError)
    return `${error.statusName}${error.errorCode !== undefined ? ` ${error.errorCode}` : ""}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/** The gRPC status name of an embedding error (the code of a pipeline error, else "OTHER"), for metrics. */
export function embeddingErrorStatus(error: unknown): string {
  if (error instanceof EmbeddingClientError) return error.statusName;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "OTHER";
}

/** True for a call the client cancelled (its abort signal fired, e.g. on SIGTERM): not a server failure. */
export function isCancelledEmbeddingCall(error: unknown): boolean {
  return error instanceof EmbeddingClientError && error.code === GrpcStatus.CANCELLED;
}

/**
 * For pipelines: true when the server refused the input itself (INVALID_ARGUMENT, or a size limit other
 * than overload), which no retry changes; the texts of such a call are isolated and dead-lettered.
 */
export function isRefusedEmbeddingInput(error: unknown): boolean {
  return (
    error instanceof EmbeddingClientError &&
    (error.code === GrpcStatus.INVALID_ARGUMENT ||
      (error.code === GrpcStatus.RESOURCE_EXHAUSTED && !error.retryable))
  );
}
