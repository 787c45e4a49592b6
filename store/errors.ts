/**
 * The store's error catalogue. Every failure that leaves the package is a `StoreError` with a stable
 * `code`, so callers (the operator, pipeline workers, ranking services) branch on codes, never on
 * message text, and the gRPC/HTTP mapping happens once, in the caller.
 */

/** Stable error codes of the store package. */
export const StoreErrorCodes = {
  /** Redis could not be reached or answered "try later" (LOADING, CLUSTERDOWN, ...). Retryable. */
  STORE_UNAVAILABLE: "STORE_UNAVAILABLE",
  /** A conditional control operation found a state other than the one it was told to expect. */
  PRECONDITION_FAILED: "PRECONDITION_FAILED",
  /** The named embedding version is not registered in the store. */
  VERSION_NOT_FOUND: "VERSION_NOT_FOUND",
  /** A flip or rollback target has not been marked complete (or is being deleted). */
  VERSION_NOT_COMPLETE: "VERSION_NOT_COMPLETE",
  /** A reader asked for the current version before any version was published. */
  NO_CURRENT_VERSION: "NO_CURRENT_VERSION",
  /** No store metadata exists under the prefix (never created, or a wrong name). */
  STORE_NOT_FOUND: "STORE_NOT_FOUND",
  /** The store exists with a different layout (bucket count, layout version) than the caller expects. */
  LAYOUT_MISMATCH: "LAYOUT_MISMATCH",
  /** A stored value does not decode; someone wrote it without following the documented store layout. */
  CORRUPT_RECORD: "CORRUPT_RECORD",
  /** The caller passed an argument that can never succeed (bad id, NaN in a vector, ...). */
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  /** Redis answered something this code does not understand (a bug, or an incompatible server). */
  INTERNAL: "INTERNAL",
} as const;

export type StoreErrorCode = (typeof StoreErrorCodes)[keyof typeof StoreErrorCodes];

/** Error thrown by every store operation. `retryable` is true only for transient conditions. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: StoreErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StoreError";
    this.code = code;
    this.details = options.details ?? {};
  }

  /** Whether the same call may succeed if repeated later unchanged. */
  get retryable(): boolean {
    return this.code === StoreErrorCodes.STORE_UNAVAILABLE;
  }
}

/** True for a `StoreError`, optionally of one code. */
export function isStoreError(error: unknown, code?: StoreErrorCode): error is StoreError {
  return error instanceof StoreError && (code === undefined || error.code === code);
}

// Redis error replies that mean "the server is there but cannot serve this right now": a restart
// still loading its AOF, a cluster mid-failover, a replica promoted under us, a server at its
// maxmemory (noeviction) refusing writes until memory is freed, e.g. by the operator collecting an
// old version or by a larger limit: failing the batch would stop a worker over that; likewise a
// primary with min-replicas-to-write refusing writes while too few replicas are connected (NOREPLICAS:
// a replica restarting), or after a snapshot failed with stop-writes-on-bgsave-error (MISCONF: a full
// disk, until the next snapshot succeeds). MOVED and ASK are slots moving (resharding); batch.ts
// follows them, and one still left means the move is under way.
const transientReplyPrefixes = [
  "MOVED ",
  "ASK ",
  "LOADING",
  "CLUSTERDOWN",
  "TRYAGAIN",
  "MASTERDOWN",
  "READONLY",
  "BUSY",
  "OOM",
  "NOREPLICAS",
  "MISCONF",
];

// ioredis reports lost connections with plain Errors; these are their names and messages.
const transientErrorNames = new Set(["MaxRetriesPerRequestError", "ClusterAllFailedError", "AbortError"]);
const transientMessageFragments = [
  "Connection is closed",
  "Command timed out",
  "Stream isn't writeable",
  "connect ETIMEDOUT",
  "Failed to refresh slots cache",
  "None of startup nodes is available",
  // ioredis gave up following CLUSTERDOWN/TRYAGAIN/MOVED after maxRedirections (16, ~1.6 s of
  // CLUSTERDOWN): a failover still electing a replica, or slots still moving.
  "Too many Cluster redirections",
];
const transientSocketCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
]);

/** Whether an error raised by ioredis (or the socket below it) is transient. */
export function isTransientRedisError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === "ReplyError") {
    // A MULTI/EXEC that Redis discarded because it refused a queued command (OOM on a full server,
    // READONLY on a demoted primary): as transient as those refusals, which ioredis attaches.
    const previous = (error as { previousErrors?: unknown }).previousErrors;
    if (error.message.startsWith("EXECABORT") && Array.isArray(previous) && previous.length > 0)
      return previous.every(isTransientRedisError);
    return transientReplyPrefixes.some((prefix) => error.message.startsWith(prefix));
  }
  if (transientErrorNames.has(error.name)) return true;
  const socketCode = (error as { code?: unknown }).code;
  if (typeof socketCode === "string" && transientSocketCodes.has(socketCode)) return true;
  return transientMessageFragments.some((fragment) => error.message.includes(fragment));
}

/**
 * Whether a store step failed for an outage worth waiting out: a StoreError that says so (STORE_UNAVAILABLE)
 * or a transient ioredis error a step let through unwrapped (a connection closed under a raw command).
 */
export function isStoreOutage(error: unknown): boolean {
  return (isStoreError(error) && error.retryable) || isTransientRedisError(error);
}

/**
 * Wraps anything thrown by the Redis client into a `StoreError`, keeping the original as `cause`.
 * A `StoreError` passes through unchanged.
 */
export function toStoreError(error: unknown, operation: string): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (isTransientRedisError(error)) {
    return new StoreError(StoreErrorCodes.STORE_UNAVAILABLE, `${operation}: Redis unavailable: ${message}`, {
      cause: error,
    });
  }
  return new StoreError(StoreErrorCodes.INTERNAL, `${operation}: unexpected Redis error: ${message}`, {
    cause: error,
  });
}

/** Shorthand for the common argument check. */
export function invalidArgument(message: string, details?: Record<string, unknown>): StoreError {
  return new StoreError(StoreErrorCodes.INVALID_ARGUMENT, message, details ? { details } : {});
}
