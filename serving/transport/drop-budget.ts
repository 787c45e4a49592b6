/** The shared budget for reading and dropping the rest of refused request bodies (see dropUnreadBody). */

/** Why a drop was cut short (or never begun): the label of the metric that counts them. */
export type DropCutReason = "concurrent" | "bytes";

/** What a drop budget reports: bytes read and dropped, drops cut short. */
export interface DropBudgetObserver {
  dropped(bytes: number): void;
  cut(reason: DropCutReason): void;
}

/** One drop's hold on the budget. */
export interface DropPermit {
  /** Counts `bytes` read and dropped; false when the shared bytes are spent (the drop is to stop). */
  take(bytes: number): boolean;
  release(): void;
}

/**
 * Limits the reading of refused bodies across all connections, as production proxies bound their
 * lingering close: at most `maxConcurrent` drops at once, and bytes from a bucket of `burstBytes`
 * refilled at `bytesPerSecond`. Without it, clients without a token sending endless bodies at full
 * speed had the server read each for 5 s (200 of them: ~1.8 GB, every other call slowed). Beyond it a
 * refusal closes its connection with the body unread, at once, as it did before bodies were dropped.
 */
export class DropBudget {
  readonly #maxConcurrent: number;
  readonly #burstBytes: number;
  readonly #bytesPerSecond: number;
  readonly #observer: DropBudgetObserver | undefined;
  #active = 0;
  #bytes: number;
  #refilledAt = performance.now();

  constructor(
    limits: { maxConcurrent: number; burstBytes: number; bytesPerSecond: number },
    observer?: DropBudgetObserver,
  ) {
    this.#maxConcurrent = limits.maxConcurrent;
    this.#burstBytes = limits.burstBytes;
    this.#bytesPerSecond = limits.bytesPerSecond;
    this.#bytes = limits.burstBytes;
    this.#observer = observer;
  }

  /** A permit for one drop, or undefined (counted as cut short) when `maxConcurrent` drops run. */
  acquire(): DropPermit | undefined {
    if (this.#active >= this.#maxConcurrent) {
      this.#observer?.cut("concurrent");
      return undefined;
    }
    this.#active++;
    let released = false;
    return {
      take: (bytes) => {
        this.#refill();
        if (this.#bytes < bytes) {
          this.#observer?.cut("bytes");
          return false;
        }
        this.#bytes -= bytes;
        this.#observer?.dropped(bytes);
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.#active--;
      },
    };
  }

  #refill(): void {
    const now = performance.now();
    this.#bytes = Math.min(
      this.#burstBytes,
      this.#bytes + ((now - this.#refilledAt) / 1000) * this.#bytesPerSecond,
    );
    this.#refilledAt = now;
  }
}
