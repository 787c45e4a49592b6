// How long a failed key waits before its next try: per-key exponential back-off (5 ms doubling up to
// 1000 s, about 16.7 minutes, as in client-go) combined with an overall token bucket, so a burst of
// failing keys cannot hammer the API server. Pure: the caller passes the current time.

/** Per-key exponential back-off. */
export class ExponentialBackoff {
  readonly #failures = new Map<string, number>();
  readonly #baseMs: number;
  readonly #maxMs: number;

  constructor(options: { baseMs?: number; maxMs?: number } = {}) {
    this.#baseMs = options.baseMs ?? 5;
    this.#maxMs = options.maxMs ?? 1_000_000;
  }

  /** Records one more failure of `key` and returns how long to wait before retrying it. */
  next(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    // 2 ** 60 overflows nothing here, but cap the exponent so the arithmetic stays exact.
    return Math.min(this.#maxMs, this.#baseMs * 2 ** Math.min(failures, 40));
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
      this.#tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#lastMs) / 1000) * this.#qps);
    }
    this.#lastMs = nowMs;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.#qps) * 1000);
  }
}

/** The retry delay of the work queue: the longer of the per-key back-off and the overall bucket. */
export class RetryRateLimiter {
  readonly backoff: ExponentialBackoff;
  readonly bucket: TokenBucket;

  constructor(options: { baseMs?: number; maxMs?: number; qps?: number; burst?: number } = {}) {
    this.backoff = new ExponentialBackoff(options);
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
