/**
 * What a shard's batch waits on, for the operator: the shards of a BootstrapRun open no port, so the
 * only thing the operator reads of them is their checkpoints. While a batch keeps being retried on a
 * dependency (the embedding server failing every call, a probe too, or unavailable or overloaded) for
 * `reportAfterMs`, the checkpoint is saved with `waiting` (its positions unchanged: the batch is not in
 * it), again at most every `rewriteMs` with the latest error; the batch's own checkpoint clears it.
 */
import type { ShardWaiting } from "./checkpoint-codec.ts";

/** How long a wait lasts before it is written into the checkpoint (a passing retry is not). */
export const WAIT_REPORT_AFTER_MS = 5_000;
/** How often a lasting wait is written again (its latest error). */
export const WAIT_REWRITE_MS = 30_000;

export class ShardWaits {
  readonly #reportAfterMs: number;
  readonly #rewriteMs: number;
  readonly #now: () => number;
  #save: ((waiting: ShardWaiting) => Promise<void>) | undefined;
  #sinceMs: number | undefined;
  #writtenAtMs: number | undefined;

  constructor(options: { reportAfterMs?: number; rewriteMs?: number; now?: () => number } = {}) {
    this.#reportAfterMs = options.reportAfterMs ?? WAIT_REPORT_AFTER_MS;
    this.#rewriteMs = options.rewriteMs ?? WAIT_REWRITE_MS;
    this.#now = options.now ?? Date.now;
  }

  /** The shard's way to save its checkpoint with `waiting` (set once its checkpoint is loaded). */
  attach(save: (waiting: ShardWaiting) => Promise<void>): void {
    this.#save = save;
  }

  /** A retry on `dependency` failing with `error` (described); writes the wait once it has lasted long enough. */
  retried(dependency: string, error: string): Promise<void> {
    const now = this.#now();
    this.#sinceMs ??= now;
    if (this.#save === undefined || now - this.#sinceMs < this.#reportAfterMs) return Promise.resolve();
    if (this.#writtenAtMs !== undefined && now - this.#writtenAtMs < this.#rewriteMs)
      return Promise.resolve();
    this.#writtenAtMs = now;
    return this.#save({ dependency, sinceMs: this.#sinceMs, error: error.slice(0, 500) });
  }

  /** A batch was checkpointed: whatever waited is over (that checkpoint has no `waiting`). */
  checkpointed(): void {
    this.#sinceMs = undefined;
    this.#writtenAtMs = undefined;
  }
}
