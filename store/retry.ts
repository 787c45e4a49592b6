/**
 * Backoff for transient Redis failures (a restart, a failover). Only idempotent operations retry:
 * conditional writes are (a repeated write has an equal position and is a no-op), so the writer can
 * resend anything whose reply it did not see.
 */

import { setTimeout as delay } from "node:timers/promises";

/** Backoff schedule and give-up point. */
export interface RetryPolicy {
  /** Give up (and throw the last error) once this much time has passed since the first attempt. */
  readonly deadlineMs: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** Defaults sized for a Redis restart with AOF reload: up to a minute of retrying. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  deadlineMs: 60_000,
  initialDelayMs: 50,
  maxDelayMs: 2_000,
};

/** Delay before attempt `attempt` (1 = first retry): exponential with "equal jitter", capped. */
export function backoffDelayMs(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  // Jitter spreads many workers reconnecting to one restarted Redis.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Waits before the next attempt; rejects with the signal's reason when aborted. */
export function waitBeforeRetry(policy: RetryPolicy, attempt: number, signal?: AbortSignal): Promise<void> {
  return delay(backoffDelayMs(policy, attempt), undefined, signal ? { signal } : {});
}
