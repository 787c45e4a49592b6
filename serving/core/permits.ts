/** A held share of the concurrency limit; releasing twice is harmless. */
export interface Permit {
  readonly count: number;
  release(): void;
}

/**
 * Concurrency permits counted in inputs, not calls, so one call with 32 texts weighs what 32 single-text
 * calls weigh. Acquisition never waits: when the limit is reached the caller is told at once, which is
 * what turns overload into a fast RESOURCE_EXHAUSTED instead of an ever-growing queue.
 */
export class Permits {
  readonly limit: number;
  #inUse = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`permit limit must be a positive integer, got ${limit}`);
    this.limit = limit;
  }

  /** Permits currently held. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Takes `count` permits, or returns undefined without side effects when they are not all free. */
  tryAcquire(count: number): Permit | undefined {
    if (count < 1 || this.#inUse + count > this.limit) return undefined;
    this.#inUse += count;
    let released = false;
    return {
      count,
      release: () => {
        if (released) return;
        released = true;
        this.#inUse -= count;
      },
    };
  }
}
