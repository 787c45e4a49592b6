/**
 * Concurrency permits: one counter of a limited resource, taken either at once or not at all
 * (`tryAcquire`, for fast refusal under overload) or in turn (`acquire`/`run`, for a bounded number of
 * requests in flight). Waiters are served first come, first served.
 */

/** A held share of the limit; releasing twice is harmless. */
export interface Permit {
  readonly count: number;
  release(): void;
}

interface Waiter {
  readonly count: number;
  readonly grant: (permit: Permit) => void;
}

/** A counted limit; see the module comment. */
export class Permits {
  readonly limit: number;
  #inUse = 0;
  readonly #waiters: Waiter[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`permit limit must be a positive integer, got ${limit}`);
    this.limit = limit;
  }

  /** Permits currently held. */
  get inUse(): number {
    return this.#inUse;
  }

  /**
   * Takes `count` permits, or returns undefined without side effects when they are not all free (or
   * others wait already: jumping the queue would starve them).
   */
  tryAcquire(count = 1): Permit | undefined {
    if (count < 1 || this.#inUse + count > this.limit || this.#waiters.length > 0) return undefined;
    return this.#take(count);
  }

  /** Waits until `count` permits are free and takes them; rejects when `signal` aborts first. */
  acquire(count = 1, signal?: AbortSignal): Promise<Permit> {
    if (count < 1 || count > this.limit)
      return Promise.reject(new RangeError(`cannot acquire ${count} of ${this.limit} permits`));
    signal?.throwIfAborted();
    const now = this.tryAcquire(count);
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = {
        count,
        grant: (permit) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(permit);
        },
      };
      const onAbort = (): void => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(signal!.reason);
        this.#grantWaiting();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Runs `work` holding `count` permits, released however it ends. */
  async run<T>(work: () => Promise<T>, count = 1, signal?: AbortSignal): Promise<T> {
    const permit = await this.acquire(count, signal);
    try {
      return await work();
    } finally {
      permit.release();
    }
  }

  #take(count: number): Permit {
    this.#inUse += count;
    let released = false;
    return {
      count,
      release: () => {
        if (released) return;
        released = true;
        this.#inUse -= count;
        this.#grantWaiting();
      },
    };
  }

  #grantWaiting(): void {
    for (;;) {
      const next = this.#waiters[0];
      if (next === undefined || this.#inUse + next.count > this.limit) return;
      this.#waiters.shift();
      next.grant(this.#take(next.count));
    }
  }
}
