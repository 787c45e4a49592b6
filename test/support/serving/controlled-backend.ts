/** Test double of the embedding backend: each batch waits until the test releases or fails it. */
import type { EmbeddingBackend } from "../../../serving/core/backend.ts";

interface PendingBatch {
  inputs: readonly Int32Array[];
  resolve(vectors: Float32Array): void;
  reject(error: Error): void;
}

/**
 * A backend for unit tests of the core: batches wait until the test completes or fails them, so a
 * test can observe exactly what was batched and when. Row r of a result is [length of input r, 1, 1…].
 */
export class ControlledBackend implements EmbeddingBackend {
  readonly dimensions: number;
  /** Batches the batcher may run at once on this backend. */
  readonly parallelism: number;
  readonly executionProvider = "test";
  readonly batches: Array<readonly Int32Array[]> = [];
  #pending: PendingBatch[] = [];
  #waiters: Array<() => void> = [];

  constructor(dimensions = 4, parallelism = 1) {
    this.dimensions = dimensions;
    this.parallelism = parallelism;
  }

  /** Batches started and not yet completed. */
  get running(): number {
    return this.#pending.length;
  }

  embed(inputs: readonly Int32Array[]): Promise<Float32Array> {
    this.batches.push(inputs);
    return new Promise((resolve, reject) => {
      this.#pending.push({ inputs, resolve, reject });
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** Resolves once `count` batches have been started in total. */
  async waitForBatches(count: number): Promise<void> {
    while (this.batches.length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Completes the oldest running batch. */
  complete(): void {
    const batch = this.#pending.shift();
    if (batch === undefined) throw new Error("no batch is running");
    const vectors = new Float32Array(batch.inputs.length * this.dimensions).fill(1);
    batch.inputs.forEach((input, row) => (vectors[row * this.dimensions] = input.length));
    batch.resolve(vectors);
  }

  /** Fails the oldest running batch. */
  fail(error: Error): void {
    const batch = this.#pending.shift();
    if (batch === undefined) throw new Error("no batch is running");
    batch.reject(error);
  }

  async close(): Promise<void> {}
}
