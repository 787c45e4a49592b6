import { setTimeout as sleep } from "node:timers/promises";

/** Backoff for dependencies that come back (the embedding server, Redis, Kafka): never give up, cap the wait. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { initialMs: 50, maxMs: 5_000 };

/**
 * Runs `attempt` until it succeeds. Errors `isRetryable` accepts are retried with exponential backoff
 * and jitter (and reported through `onRetry`); any other error, or an abort, is thrown at once.
 */
export async function retryForever<T>(
  attempt: () => Promise<T>,
  options: {
    isRetryable: (error: unknown) => boolean;
    onRetry?: (error: unknown, attempt: number) => void;
    signal?: AbortSignal | undefined;
    backoff?: BackoffPolicy;
  },
): Promise<T> {
  const backoff = options.backoff ?? defaultBackoff;
  for (let attemptNumber = 1; ; attemptNumber++) {
    // The first attempt always runs (a batch in hand is finished on shutdown); only retries stop.
    if (attemptNumber > 1) options.signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (error) {
      if (!options.isRetryable(error) || options.signal?.aborted) throw error;
      options.onRetry?.(error, attemptNumber);
      const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attemptNumber - 1, 20));
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2), undefined, { signal: options.signal });
    }
  }
}
