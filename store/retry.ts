/**
 * The store's retry policy for transient Redis failures (a restart, a failover). Only idempotent
 * operations retry: conditional writes are (a repeated write has an equal position and is a no-op), so
 * the writer can resend anything whose reply it did not see. The back-off itself is plumbing/retry.ts.
 */
import type { RetryPolicy } from "../plumbing/retry.ts";

export type { RetryPolicy } from "../plumbing/retry.ts";
export { backoffDelayMs, waitBeforeRetry, withinDeadline } from "../plumbing/retry.ts";

/** Defaults sized for a Redis restart with AOF reload: up to a minute of retrying. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  deadlineMs: 60_000,
  initialDelayMs: 50,
  maxDelayMs: 2_000,
};
