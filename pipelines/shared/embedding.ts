/**
 * The pipelines' side of embedding: split texts into calls of at most `maxBatchSize`, keep at most
 * `maxInflight` calls running, and retry calls that fail because the server is unavailable or
 * overloaded until it answers. Order of results matches the order of texts.
 */
import { chunk } from "../../plumbing/chunks.ts";
import { Permits } from "../../plumbing/permits.ts";
import { retry } from "../../plumbing/retry.ts";
import { PipelineError, PipelineErrorCodes } from "./errors.ts";

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
    const permits = new Permits(this.#options.maxInflight);
    const calls = chunk(texts, this.#options.maxBatchSize).map((slice) =>
      permits.run(async () => {
        const result = await retry(() => this.#call(slice, this.#options.signal), {
          isRetryable: this.#options.isRetryable,
          onRetry: this.#options.onRetry,
          signal: this.#options.signal,
        });
        if (result.length !== slice.length) {
          throw new PipelineError(
            PipelineErrorCodes.EMBEDDING_COUNT_MISMATCH,
            `embedding server returned ${result.length} vectors for ${slice.length} texts`,
          );
        }
        this.#options.onCall?.(slice.length);
        return result;
      }),
    );
    return (await Promise.all(calls)).flat();
  }
}
