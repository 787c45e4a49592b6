import type { EmbeddingBackend } from "./backend.ts";
import { servingErrors } from "./errors.ts";
import { BatchQueue, type BatchLimits, type Queued } from "./queue.ts";

/** The outcome for one input: its pooled vector and where its time went. */
export interface BatchedVector {
  /** Pooled, not normalised; a view into the batch output that belongs to this input alone. */
  vector: Float32Array;
  queueMs: number;
  inferenceMs: number;
  batchSize: number;
}

/** Hooks for metrics; every method is optional so tests can listen to just what they check. */
export interface BatcherObserver {
  batchStarted?(batch: { size: number; tokens: number; paddedTokens: number; queueMs: number[] }): void;
  batchFinished?(batch: { size: number; tokens: number; inferenceMs: number; failed: boolean }): void;
  dropped?(count: number): void;
  queueChanged?(queue: { size: number; tokens: number }): void;
}

interface Entry extends Queued {
  readonly ids: Int32Array;
  readonly signal: AbortSignal | undefined;
  resolve(result: BatchedVector): void;
  reject(error: unknown): void;
}

const rejectCancelled = (entry: Entry): void => entry.reject(servingErrors.cancelled());

/** Options of the batching loop. */
export interface BatcherOptions {
  backend: EmbeddingBackend;
  limits: BatchLimits;
  /** How long the oldest input may wait for company while the backend is idle. */
  maxQueueDelayMs: number;
  observer?: BatcherObserver;
}

/**
 * The batching loop (cf. text-embeddings-inference's batching task). A backend with one inference
 * worker runs one batch at a time, because concurrent runs only contend for the same cores or GPU;
 * while it runs, new inputs collect in the queue and form the next batch. When the backend is idle an
 * input waits at most `maxQueueDelayMs` for others to share its batch. A backend with several workers
 * (`parallelism`, each on its own share of the CPU cores) gets a further batch only when the queue
 * fills one while another batch runs: a partial batch waits for the running one as it would with one
 * worker, so extra workers add throughput under load without splitting light load into small batches.
 */
export class Batcher {
  readonly #backend: EmbeddingBackend;
  readonly #queue: BatchQueue<Entry>;
  readonly #maxQueueDelayMs: number;
  readonly #observer: BatcherObserver;
  #running = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Signals with an abort listener already (one per signal, however many inputs its call has). */
  readonly #watchedSignals = new WeakSet<AbortSignal>();
  #idleWaiters: Array<() => void> = [];

  constructor(options: BatcherOptions) {
    this.#backend = options.backend;
    this.#queue = new BatchQueue(options.limits);
    this.#maxQueueDelayMs = options.maxQueueDelayMs;
    this.#observer = options.observer ?? {};
  }

  /** True once the backend can run no batch any more (every inference worker died). */
  get backendFailed(): boolean {
    return this.#backend.failed === true;
  }

  /** Inputs waiting for a batch. */
  get queueSize(): number {
    return this.#queue.size;
  }

  /** Tokens waiting for a batch. */
  get queueTokens(): number {
    return this.#queue.tokens;
  }

  /**
   * Queues one tokenized input; rejects with CANCELLED as soon as `signal` aborts before its batch
   * starts (its queue room goes back at once, so a caller's permits do not wait for a running batch).
   */
  submit(ids: Int32Array, signal?: AbortSignal): Promise<BatchedVector> {
    // Cancelled already (the client hung up or its deadline passed while the request was read): queued,
    // it would hold its room and its call's permits until the running batch ends and the next is taken.
    if (signal?.aborted) {
      this.#observer.dropped?.(1);
      return Promise.reject(servingErrors.cancelled());
    }
    if (signal !== undefined && !this.#watchedSignals.has(signal)) {
      this.#watchedSignals.add(signal);
      signal.addEventListener("abort", () => this.#dropCancelled(), { once: true });
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({
        ids,
        tokenCount: ids.length,
        enqueuedAt: performance.now(),
        signal,
        get cancelled() {
          return signal?.aborted ?? false;
        },
        resolve,
        reject,
      });
      this.#queueChanged();
      this.#schedule();
    });
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.#running === 0 && this.#queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #schedule(): void {
    if (this.#backend.failed === true) return this.#refuseQueued();
    if (this.#running >= (this.#backend.parallelism ?? 1)) return;
    const oldest = this.#queue.oldestEnqueuedAt;
    if (oldest === undefined) return this.#notifyIdle();
    if (this.#queue.canFillBatch()) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      void this.#runNext();
      // Another worker may be free and the queue may hold another full batch.
      return this.#schedule();
    }
    if (this.#running > 0) return; // a partial batch waits for the running one (see the class comment)
    const waitedMs = performance.now() - oldest;
    if (waitedMs >= this.#maxQueueDelayMs) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      void this.#runNext();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#schedule();
      }, this.#maxQueueDelayMs - waitedMs);
    }
  }

  /**
   * The backend can run no batch any more (its last inference worker died): the queued inputs never
   * ran, so they are refused as new calls are then (UNAVAILABLE NOT_READY, retryable elsewhere)
   * rather than failed INTERNAL on the dead backend.
   */
  #refuseQueued(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const queued = this.#queue.takeAll();
    if (queued.length > 0) {
      this.#queueChanged();
      for (const entry of queued)
        entry.reject(entry.cancelled ? servingErrors.cancelled() : servingErrors.workersFailed());
    }
    this.#notifyIdle();
  }

  /** Rejects the queued inputs of cancelled calls now. */
  #dropCancelled(): void {
    const before = this.#queue.size;
    this.#queue.dropCancelled(rejectCancelled);
    const dropped = before - this.#queue.size;
    if (dropped === 0) return;
    this.#observer.dropped?.(dropped);
    this.#queueChanged();
    this.#notifyIdle();
  }

  async #runNext(): Promise<void> {
    const before = this.#queue.size;
    const batch = this.#queue.takeBatch(rejectCancelled);
    const dropped = before - this.#queue.size - batch.length;
    if (dropped > 0) this.#observer.dropped?.(dropped);
    this.#queueChanged();
    if (batch.length === 0) return this.#notifyIdle();

    this.#running++;
    const started = performance.now();
    const tokens = batch.reduce((sum, entry) => sum + entry.tokenCount, 0);
    const longest = batch.reduce((max, entry) => Math.max(max, entry.tokenCount), 0);
    const queueMs = batch.map((entry) => started - entry.enqueuedAt);
    this.#observer.batchStarted?.({
      size: batch.length,
      tokens,
      paddedTokens: longest * batch.length,
      queueMs,
    });
    let vectors: Float32Array | undefined;
    let failure: unknown;
    try {
      vectors = await this.#backend.embed(batch.map((entry) => entry.ids));
    } catch (error) {
      failure = error;
    }
    const inferenceMs = performance.now() - started;
    this.#running--;
    this.#observer.batchFinished?.({
      size: batch.length,
      tokens,
      inferenceMs,
      failed: vectors === undefined,
    });
    // Start the next batch before answering this one, so the backend works while responses are sent.
    this.#schedule();

    const dimensions = this.#backend.dimensions;
    batch.forEach((entry, index) => {
      if (vectors === undefined) return entry.reject(servingErrors.backendFailed(failure));
      entry.resolve({
        vector: vectors.subarray(index * dimensions, (index + 1) * dimensions),
        queueMs: queueMs[index] ?? 0,
        inferenceMs,
        batchSize: batch.length,
      });
    });
  }

  #queueChanged(): void {
    this.#observer.queueChanged?.({ size: this.#queue.size, tokens: this.#queue.tokens });
  }

  #notifyIdle(): void {
    if (this.#running > 0 || this.#queue.size > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
