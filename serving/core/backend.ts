/** Inference workers by state: `live` ones run batches, `dead` ones died (closed ones count in neither). */
export interface InferenceWorkerCounts {
  readonly live: number;
  readonly dead: number;
}

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
  /** Its inference workers by state; absent means one worker, dead once `failed`. */
  readonly inferenceWorkers?: InferenceWorkerCounts;
  /**
   * Runs one batch. Returns `inputs.length * dimensions` floats: the pooled, not yet normalised
   * vectors in input order.
   */
  embed(inputs: readonly Int32Array[]): Promise<Float32Array>;
  /** Releases the model; pending batches fail. */
  close(): Promise<void>;
}

/** The inference workers of `backend` by state (see `EmbeddingBackend.inferenceWorkers`). */
export function inferenceWorkersOf(backend: EmbeddingBackend): InferenceWorkerCounts {
  return backend.inferenceWorkers ?? (backend.failed === true ? { live: 0, dead: 1 } : { live: 1, dead: 0 });
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

  /** None while the model loads. */
  get inferenceWorkers(): InferenceWorkerCounts {
    return this.#backend === undefined ? { live: 0, dead: 0 } : inferenceWorkersOf(this.#backend);
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
