// How long a failed key waits before its next try: per-key exponential back-off (5 ms doubling up to
// a cap, 60 s by default) combined with an overall token bucket, so a burst of failing keys cannot
// hammer the API server. Pure: the caller passes the current time.
//
// Why 60 s and not client-go's 1000 s: a reconcile fails mostly because a dependency is down (the
// store's Redis, a Kafka broker, the API server), and nothing tells the operator when it comes back;
// the next retry does, and under plain doubling that retry is about as far away as the outage was
// long. Measured on the testbed with the 1000 s cap: a model whose Redis was down for 300 s stayed
// Stalled/ReconcileError for another 125 s after Redis answered again; an outage of 20 minutes or
// more would leave it so for up to 16.7 minutes more. At 60 s a returning dependency is noticed
// within a minute, and a failing key costs no more than a healthy pipeline's 30 s poll (Crossplane
// caps its per-key back-off at 60 s too). The token bucket still bounds retries overall.
// `--retry-max-delay-seconds 1000` (chart: retryMaxDelaySeconds) restores client-go's cap.

/** The default cap of the per-key back-off (`--retry-max-delay-seconds`). */
export const defaultRetryMaxDelayMs = 60_000;

/**
 * The delay after `failures` earlier failures: `firstMs` doubling per failure, at most `maxMs`. Pure,
 * so a caller that keeps its own count per key (the controller's waiting keys) backs off the same way
 * as ExponentialBackoff without a second map to keep in step with its own.
 */
export function backoffDelayMs(failures: number, firstMs: number, maxMs: number): number {
  // Capping the exponent keeps the arithmetic exact (2 ** 40 times any sane first delay is past any cap).
  return Math.min(maxMs, firstMs * 2 ** Math.min(failures, 40));
}

/** Per-key exponential back-off. */
export class ExponentialBackoff {
  readonly #failures = new Map<string, number>();
  readonly #baseMs: number;
  readonly #maxMs: number;

  constructor(options: { baseMs?: number; maxMs?: number } = {}) {
    this.#baseMs = options.baseMs ?? 5;
    this.#maxMs = options.maxMs ?? defaultRetryMaxDelayMs;
  }

  /** Records one more failure of `key` and returns how long to wait before retrying it. */
  next(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    return backoffDelayMs(failures, this.#baseMs, this.#maxMs);
  }

  /** Failures recorded for `key` since it last succeeded. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Forgets a key's failures (after a successful reconcile). */
  forget(key: string): void {
    this.#failures.delete(key);
  }
}

/** A token bucket: `qps` tokens per second, at most `burst` saved up. */
export class TokenBucket {
  readonly #qps: number;
  readonly #burst: number;
  #tokens: number;
  #lastMs: number | undefined;

  constructor(options: { qps?: number; burst?: number } = {}) {
    this.#qps = options.qps ?? 10;
    this.#burst = options.burst ?? 100;
    this.#tokens = this.#burst;
  }

  /** Takes one token and returns the delay until it is available (0 when one is in the bucket). */
  reserve(nowMs: number): number {
    if (this.#lastMs !== undefined) {
      // A clock that went back (a wall clock stepped by NTP) counts as no time passed: subtracting
      // would put the bucket that far in debt and hold every retry back as long.
      const elapsedMs = Math.max(0, nowMs - this.#lastMs);
      this.#tokens = Math.min(this.#burst, this.#tokens + (elapsedMs / 1000) * this.#qps);
    }
    this.#lastMs = nowMs;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.#qps) * 1000);
  }
}

/** Retry settings of a work queue (`--retry-qps`, `--retry-burst`, `--retry-max-delay-seconds`). */
export interface RetryOptions {
  /** Overall retries per second. */
  qps?: number;
  /** Retries the bucket may let through at once. */
  burst?: number;
  /** The longest a failed key waits for its next try (defaultRetryMaxDelayMs when absent). */
  maxDelayMs?: number;
}

/** The retry delay of the work queue: the longer of the per-key back-off and the overall bucket. */
export class RetryRateLimiter {
  readonly backoff: ExponentialBackoff;
  readonly bucket: TokenBucket;

  constructor(options: RetryOptions & { baseMs?: number } = {}) {
    this.backoff = new ExponentialBackoff({ baseMs: options.baseMs, maxMs: options.maxDelayMs });
    this.bucket = new TokenBucket(options);
  }

  /** Delay before `key` is retried after a failure at `nowMs`. */
  when(key: string, nowMs: number): number {
    return Math.max(this.backoff.next(key), this.bucket.reserve(nowMs));
  }

  failures(key: string): number {
    return this.backoff.failures(key);
  }

  forget(key: string): void {
    this.backoff.forget(key);
  }
}
