/**
 * The pipelines' side of embedding: split texts into calls of at most `maxBatchSize`, keep at most
 * `maxInflight` calls running, and retry calls that fail because the server is unavailable or
 * overloaded until it answers. Order of results matches the order of texts.
 */
import { retryForever } from "./retry.ts";

/** One call to the embedding server: vectors in the order of `texts`. */
export type EmbedCall = (texts: string[], signal?: AbortSignal) => Promise<Float32Array[]>;

export interface BatchedEmbedderOptions {
  maxBatchSize: number;
  maxInflight: number;
  /** Which errors mean "try again later" (unavailable, overloaded, deadline); others are thrown. */
  isRetryable: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number) => void;
  /** Called once per successful call with its size (for the inference-call metric). */
  onCall?: (texts: number) => void;
  signal?: AbortSignal;
}

/** Embeds lists of texts through bounded, retried, concurrent calls. */
export class BatchedEmbedder {
  readonly #call: EmbedCall;
  readonly #options: BatchedEmbedderOptions;

  constructor(call: EmbedCall, options: BatchedEmbedderOptions) {
    this.#call = call;
    this.#options = options;
  }

  /** Embeds every text; resolves when all calls succeeded. */
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const { maxBatchSize, maxInflight } = this.#options;
    const vectors = new Array<Float32Array>(texts.length);
    const chunks: number[] = [];
    for (let start = 0; start < texts.length; start += maxBatchSize) chunks.push(start);
    let next = 0;
    const runner = async (): Promise<void> => {
      while (next < chunks.length) {
        const start = chunks[next++]!;
        const slice = texts.slice(start, start + maxBatchSize);
        const result = await retryForever(() => this.#call(slice, this.#options.signal), {
          isRetryable: this.#options.isRetryable,
          onRetry: this.#options.onRetry,
          signal: this.#options.signal,
        });
        if (result.length !== slice.length) {
          throw new Error(`embedding server returned ${result.length} vectors for ${slice.length} texts`);
        }
        this.#options.onCall?.(slice.length);
        result.forEach((vector, index) => (vectors[start + index] = vector));
      }
    };
    await Promise.all(Array.from({ length: Math.min(maxInflight, chunks.length) }, runner));
    return vectors;
  }
}
