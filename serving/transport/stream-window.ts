/** Per-stream flow control: a stream stops reading while its in-flight inputs fill its window. */

/** The two ends of a server stream the window steers (a grpc-js ServerDuplexStream has both). */
export interface FlowControlledStream {
  pause(): unknown;
  resume(): unknown;
  once(event: "drain", listener: () => void): unknown;
}

/**
 * How many inputs one stream may have in flight. A request is read only while the stream is below
 * its window, and one request carries at most `maxInputsPerCall` inputs, so a stream never holds more
 * than `window - 1 + maxInputsPerCall` permits: at most all of them. A single stream therefore never
 * meets RESOURCE_EXHAUSTED on its own; only many streams (or other callers) together can.
 */
export function streamWindowSize(limits: { maxInputsPerCall: number; permits: number }): number {
  return Math.max(1, Math.min(limits.maxInputsPerCall, limits.permits - limits.maxInputsPerCall + 1));
}

/**
 * Back-pressure for one stream, in both directions (cf. text-embeddings-inference, whose stream
 * handler waits for capacity per message): reading pauses while the stream's inputs in flight are at
 * the window, and while the client does not read the answers (a write was refused until "drain").
 * gRPC reads on demand, so a paused stream leaves further requests in HTTP/2 flow control, on the
 * client's side, instead of in this server's memory.
 */
export class StreamWindow {
  readonly size: number;
  readonly #stream: FlowControlledStream;
  #inFlight = 0;
  #writeBlocked = false;
  #paused = false;

  constructor(stream: FlowControlledStream, size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`stream window must be a positive integer, got ${size}`);
    this.#stream = stream;
    this.size = size;
  }

  /** Inputs read and not yet answered. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** True while reading is paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Counts the inputs of a request just read. */
  admit(inputs: number): void {
    this.#inFlight += inputs;
    this.#update();
  }

  /** Counts the inputs of a request just answered. */
  release(inputs: number): void {
    this.#inFlight -= inputs;
    this.#update();
  }

  /** Records the result of a write: `false` means the client is behind, so stop reading until it drains. */
  wrote(accepted: boolean): void {
    if (accepted || this.#writeBlocked) return;
    this.#writeBlocked = true;
    this.#update();
    this.#stream.once("drain", () => {
      this.#writeBlocked = false;
      this.#update();
    });
  }

  #update(): void {
    const shouldPause = this.#inFlight >= this.size || this.#writeBlocked;
    if (shouldPause === this.#paused) return;
    this.#paused = shouldPause;
    if (shouldPause) this.#stream.pause();
    else this.#stream.resume();
  }
}
