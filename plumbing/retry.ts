/**
 * Retry with exponential back-off, jitter and an optional deadline: the one implementation every
 * process uses for dependencies that come back (Redis, Kafka, the embedding server).
 *
 * Layering on the nearline write path (decode -> embed -> store write -> produce -> commit), so that a
 * long outage of one dependency never repeats the work done before it:
 *   1. each step retries its own transient failures where it stands: the embedding calls
 *      (pipelines/shared/embedding.ts), the store reads and writes (StoreWriter, whose writes nearline
 *      retries without a deadline), the output produce and the offset commit;
 *   2. only what escapes a step (a retryable error of a step without its own retry) makes the worker
 *      retry the whole batch, which is idempotent but repeats decode and inference;
 *   3. the drain abort (SIGTERM) stops every level's retries; a batch's first attempt still runs.
 * So a Redis outage of any length pauses the batch at its store write; its vectors are not recomputed.
 */
import { setTimeout as sleep } from "node:timers/promises";

/** Back-off schedule and, optionally, when to give up. */
export interface RetryPolicy {
  /** Ceiling of the first wait; doubles per attempt. */
  readonly initialDelayMs: number;
  /** Largest ceiling of one wait. */
  readonly maxDelayMs: number;
  /** Give up (throw the last error) once this long has passed since the first attempt; absent: never. */
  readonly deadlineMs?: number | undefined;
}

/** For dependencies that always come back: never give up, wait at most 5 s between attempts. */
export const RETRY_FOREVER: RetryPolicy = { initialDelayMs: 50, maxDelayMs: 5_000 };

/** Delay before retry number `attempt` (1 = first retry): exponential with "equal jitter", capped. */
export function backoffDelayMs(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const doublings = Math.min(Math.max(0, attempt - 1), 30);
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** doublings);
  // Half fixed, half random: many workers reconnecting to one restarted server spread out, yet each
  // still waits long enough to let it recover.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Waits before retry number `attempt`; rejects with the signal's reason when aborted. */
export function waitBeforeRetry(policy: RetryPolicy, attempt: number, signal?: AbortSignal): Promise<void> {
  return sleep(backoffDelayMs(policy, attempt), undefined, signal ? { signal } : {});
}

/** True while a policy's deadline, counted from `startedAtMs`, has not passed. */
export function withinDeadline(policy: RetryPolicy, startedAtMs: number, now = Date.now()): boolean {
  return policy.deadlineMs === undefined || now - startedAtMs < policy.deadlineMs;
}

/** How `retry` decides and reports. */
export interface RetryOptions {
  /** Errors worth another attempt; any other error is thrown at once. */
  readonly isRetryable: (error: unknown) => boolean;
  /** Called before each wait with the error and the number of the attempt that failed. */
  readonly onRetry?: ((error: unknown, attempt: number) => void) | undefined;
  /** Stops retrying (the first attempt always runs, so a batch in hand is finished on shutdown). */
  readonly signal?: AbortSignal | undefined;
  readonly policy?: RetryPolicy | undefined;
}

/**
 * Runs `attempt` until it succeeds. Retryable errors are retried with back-off until the policy's
 * deadline (default: never); a non-retryable error, an abort or the deadline throws the last error.
 */
export async function retry<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const policy = options.policy ?? RETRY_FOREVER;
  const startedAtMs = Date.now();
  for (let attemptNumber = 1; ; attemptNumber++) {
    if (attemptNumber > 1) options.signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (error) {
      if (!options.isRetryable(error) || options.signal?.aborted || !withinDeadline(policy, startedAtMs))
        throw error;
      options.onRetry?.(error, attemptNumber);
      await waitBeforeRetry(policy, attemptNumber, options.signal);
    }
  }
}
