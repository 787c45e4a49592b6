/**
 * The contract between the core and an inference backend (cf. text-embeddings-inference's backend
 * crate): the core hands over tokenized, length-sorted inputs and gets one pooled vector per input.
 */
export interface EmbeddingBackend {
  /** Width of the pooled vectors. */
  readonly dimensions: number;
  /** The execution provider actually in use ("cpu", "cuda"). */
  readonly executionProvider: string;
  /** Batches the backend runs at once (one per inference worker); absent means 1. */
  readonly parallelism?: number;
  /** True once the backend can run no batch any more (its inference workers died). */
  readonly failed?: boolean;
  /**
   * Runs one batch. Returns `inputs.length * dimensions` floats: the pooled, not yet normalised
   * vectors in input order.
   */
  embed(inputs: readonly Int32Array[]): Promise<Float32Array>;
  /** Releases the model; pending batches fail. */
  close(): Promise<void>;
}

/**
 * Stands in for the backend while the model loads, so transports can be listening (and answering
 * health checks with NOT_SERVING) before the model is ready. Calls are refused by the embedder's
 * state until then; `embed` here is a safety net.
 */
export class DeferredBackend implements EmbeddingBackend {
  readonly dimensions: number;
  #backend: EmbeddingBackend | undefined;

  constructor(dimensions: number) {
    this.dimensions = dimensions;
  }

  get executionProvider(): string {
    return this.#backend?.executionProvider ?? "loading";
  }

  get parallelism(): number {
    return this.#backend?.parallelism ?? 1;
  }

  get failed(): boolean {
    return this.#backend?.failed ?? false;
  }

  /** Installs the loaded backend. */
  set(backend: EmbeddingBackend): void {
    this.#backend = backend;
  }

  embed(inputs: readonly Int32Array[]): Promise<Float32Array> {
    if (this.#backend === undefined) return Promise.reject(new Error("the backend is not loaded yet"));
    return this.#backend.embed(inputs);
  }

  async close(): Promise<void> {
    await this.#backend?.close();
  }
}
