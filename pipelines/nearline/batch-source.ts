/**
 * Turns a Kafka message stream into micro-batches: a batch closes when it holds `maxEvents` or when
 * `lingerMs` passed since its first event. The stream is paused while a full batch waits, so memory
 * stays bounded by one batch plus the client's read-ahead.
 */
import type { Readable } from "node:stream";

export class BatchSource<T> {
  readonly #stream: Readable;
  readonly #maxEvents: number;
  readonly #lingerMs: number;
  #buffer: T[] = [];
  #firstAt = 0;
  #wake: (() => void) | undefined;
  #ended = false;
  #error: Error | undefined;

  constructor(stream: Readable, options: { maxEvents: number; lingerMs: number }) {
    this.#stream = stream;
    this.#maxEvents = options.maxEvents;
    this.#lingerMs = options.lingerMs;
    stream.on("data", (item: T) => {
      if (this.#buffer.length === 0) this.#firstAt = Date.now();
      this.#buffer.push(item);
      if (this.#buffer.length >= this.#maxEvents) stream.pause();
      this.#notify();
    });
    stream.once("end", () => this.#finish());
    stream.once("close", () => this.#finish());
    stream.once("error", (error: Error) => {
      this.#error = error;
      this.#finish();
    });
  }

  /** Items received and not handed out yet. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /**
   * The next batch; empty only when the stream ended. Rejects when the stream failed, but only once
   * every item it delivered before failing was handed out, so the caller knows exactly what it saw.
   */
  async next(signal?: AbortSignal): Promise<T[]> {
    for (;;) {
      if (this.#error !== undefined && this.#buffer.length === 0) throw this.#error;
      if (this.#error !== undefined) return this.#take();
      const full = this.#buffer.length >= this.#maxEvents;
      const lingered = this.#buffer.length > 0 && Date.now() - this.#firstAt >= this.#lingerMs;
      if (full || lingered || (this.#ended && this.#buffer.length > 0)) return this.#take();
      if (this.#ended || signal?.aborted) return [];
      const wait = this.#buffer.length > 0 ? this.#lingerMs - (Date.now() - this.#firstAt) : undefined;
      await new Promise<void>((resolve) => {
        // However the wait ends, its timer and its listener go: the signal outlives many batches.
        const done = (): void => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const timer = wait !== undefined ? setTimeout(done, Math.max(0, wait)) : undefined;
        signal?.addEventListener("abort", done, { once: true });
        this.#wake = done;
      });
      this.#wake = undefined;
    }
  }

  #take(): T[] {
    const batch = this.#buffer.splice(0, this.#maxEvents);
    if (this.#buffer.length > 0) this.#firstAt = Date.now();
    if (this.#buffer.length < this.#maxEvents && this.#stream.isPaused() && !this.#stream.destroyed)
      this.#stream.resume();
    return batch;
  }

  #notify(): void {
    const full = this.#buffer.length >= this.#maxEvents;
    if (full || this.#buffer.length === 1) this.#wake?.();
  }

  #finish(): void {
    this.#ended = true;
    this.#wake?.();
  }
}
