/** Reads exact byte counts from a stream of chunks (for parsing formats such as tar). */
export class ByteReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #buffer: Buffer = Buffer.alloc(0);
  #done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Exactly `count` bytes, or fewer only at the end of the stream. */
  async read(count: number): Promise<Buffer> {
    while (this.#buffer.length < count && (await this.#pull()));
    const out = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(out.length);
    return out;
  }

  /** Between 1 and `max` bytes (empty only at the end): lets large entries stream through. */
  async readSome(max: number): Promise<Buffer> {
    if (this.#buffer.length === 0) await this.#pull();
    const out = this.#buffer.subarray(0, max);
    this.#buffer = this.#buffer.subarray(out.length);
    return out;
  }

  async #pull(): Promise<boolean> {
    if (this.#done) return false;
    const next = await this.#iterator.next();
    if (next.done) {
      this.#done = true;
      return false;
    }
    this.#buffer =
      this.#buffer.length === 0 ? Buffer.from(next.value) : Buffer.concat([this.#buffer, next.value]);
    return true;
  }
}
