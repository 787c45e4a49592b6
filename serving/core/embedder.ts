/** The transport-neutral core of an Embed call: admission, prompts, tokenization, batching, answer. */
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { Batcher, BatchedVector } from "./batcher.ts";
import { servingErrors } from "./errors.ts";
import type { Permits } from "../../plumbing/permits.ts";
import type { BatchLimits } from "./queue.ts";
import { compilePrompt, MissingPromptFieldError, type CompiledPrompt } from "./prompts.ts";
import type { EmbedCall, EmbeddedInput, EmbedResult, ModelIdentity } from "./types.ts";

/** Limits applied to every call before any work is done. */
export interface CallLimits {
  maxInputsPerCall: number;
}

/** The embedder's lifecycle: calls are accepted only while ready. */
export type EmbedderState = "loading" | "ready" | "draining";

/** Everything the embedder is wired to. */
export interface EmbedderOptions {
  model: ModelIdentity;
  tokenizer: Tokenizer;
  batcher: Batcher;
  permits: Permits;
  limits: CallLimits;
  /** The batching limits, reported by Info. */
  batching: BatchLimits;
  prompts: Readonly<Record<string, string>>;
}

/**
 * The transport-neutral core of an Embed call (cf. text-embeddings-inference's `Infer`): admission
 * (state, input count, permits — in that order, so overload is rejected before any tokenization),
 * prompts, tokenization, the queue, and assembling the answer. Every transport calls `embed`.
 */
export class Embedder {
  readonly model: ModelIdentity;
  readonly limits: CallLimits;
  readonly batching: BatchLimits;
  readonly permits: Permits;
  readonly #tokenizer: Tokenizer;
  readonly #batcher: Batcher;
  readonly #prompts: ReadonlyMap<string, CompiledPrompt>;
  #state: EmbedderState = "loading";
  #inFlight = 0;
  #idleWaiters: Array<() => void> = [];
  readonly #drainStarted = new AbortController();

  constructor(options: EmbedderOptions) {
    this.model = options.model;
    this.limits = options.limits;
    this.batching = options.batching;
    this.permits = options.permits;
    this.#tokenizer = options.tokenizer;
    this.#batcher = options.batcher;
    this.#prompts = new Map(
      Object.entries(options.prompts).map(([name, template]) => [name, compilePrompt(template)]),
    );
  }

  get state(): EmbedderState {
    return this.#state;
  }

  /** Calls being served right now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Aborted when the drain starts, with the DRAINING error as its reason. A call that never ends on
   * its own (a stream) listens to it, to finish its work and send its client elsewhere instead of
   * waiting for the drain to cut it.
   */
  get drainSignal(): AbortSignal {
    return this.#drainStarted.signal;
  }

  /** Names of the prompts this model knows. */
  get promptNames(): string[] {
    return [...this.#prompts.keys()];
  }

  /** Marks the model loaded and warmed up. */
  markReady(): void {
    if (this.#state === "loading") this.#state = "ready";
  }

  /** Refuses new calls from now on and resolves when every call in flight has been answered. */
  async drain(): Promise<void> {
    this.#state = "draining";
    this.#drainStarted.abort(servingErrors.draining());
    if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    await this.#batcher.idle();
  }

  /** Embeds every input of a call; throws a `ServingError` for anything the caller must fix or retry. */
  async embed(call: EmbedCall): Promise<EmbedResult> {
    const started = process.hrtime.bigint();
    if (this.#state === "draining") throw servingErrors.draining();
    if (this.#state === "loading") throw servingErrors.notReady();
    if (this.#batcher.backendFailed) throw servingErrors.workersFailed();
    const count = call.inputs.length;
    if (count === 0) throw servingErrors.emptyInputs();
    if (count > this.limits.maxInputsPerCall)
      throw servingErrors.tooManyInputs(count, this.limits.maxInputsPerCall);
    if (call.dimensions !== undefined && (call.dimensions < 1 || call.dimensions > this.model.dimensions)) {
      throw servingErrors.invalidDimensions(call.dimensions, this.model.dimensions);
    }
    const permit = this.permits.tryAcquire(count);
    if (permit === undefined) throw servingErrors.overloaded(this.permits.limit);
    this.#inFlight++;
    try {
      const encodings = call.inputs.map((input, index) => this.#encode(call, index, input));
      const tokenized = process.hrtime.bigint();
      // Wait for every input to settle before the permits go back, so the queue never holds more
      // inputs than there are permits, even when one input of a call fails or is cancelled.
      const settled = await Promise.allSettled(
        encodings.map((encoding) => this.#batcher.submit(encoding.ids, call.signal)),
      );
      const batched = settled.map((outcome) => {
        if (outcome.status === "rejected") throw outcome.reason;
        return outcome.value;
      });
      return this.#assemble(call, encodings, batched, started, tokenized);
    } finally {
      permit.release();
      this.#callFinished();
    }
  }

  /**
   * Checks every input for what needs no tokenizer (its prompt, the prompt's fields, an empty text),
   * so that a call embedded as several calls (OpenAI's 2,048 inputs) is refused before its first
   * part runs, not after the parts before the bad input were computed and thrown away. A text over
   * the model's limit is still found when its part is tokenized.
   */
  checkInputs(inputs: EmbedCall["inputs"]): void {
    inputs.forEach((input, index) => this.#promptedText(index, input));
  }

  #encode(call: EmbedCall, index: number, input: EmbedCall["inputs"][number]) {
    const text = this.#promptedText(index, input);
    const encoding = this.#tokenizer.encode(text, {
      maxLength: this.model.maxSequenceLength,
      truncate: call.truncate,
      direction: call.truncationDirection,
    });
    if (encoding.overflow) throw servingErrors.inputTooLong(index, this.model.maxSequenceLength);
    return encoding;
  }

  /** The input's text with its prompt applied; refuses an unknown prompt, a missing field, an empty text. */
  #promptedText(index: number, input: EmbedCall["inputs"][number]): string {
    const text = this.#applyPrompt(index, input);
    if (text.length === 0) throw servingErrors.emptyText(index);
    return text;
  }

  #applyPrompt(index: number, input: EmbedCall["inputs"][number]): string {
    if (input.promptName === undefined || input.promptName === "") return input.text;
    const prompt = this.#prompts.get(input.promptName);
    if (prompt === undefined) throw servingErrors.unknownPrompt(input.promptName, this.promptNames);
    try {
      return prompt(input.text, input.fields);
    } catch (error) {
      if (error instanceof MissingPromptFieldError) {
        throw servingErrors.missingPromptField(index, input.promptName, error.field);
      }
      throw error;
    }
  }

  #assemble(
    call: EmbedCall,
    encodings: ReadonlyArray<{ ids: Int32Array; truncated: boolean }>,
    batched: readonly BatchedVector[],
    started: bigint,
    tokenized: bigint,
  ): EmbedResult {
    const normalize = call.normalize ?? this.model.normalize;
    let totalTokens = 0;
    let queueMs = 0;
    let inferenceMs = 0;
    const embeddings: EmbeddedInput[] = batched.map((result, index) => {
      const encoding = encodings[index];
      const tokenCount = encoding?.ids.length ?? 0;
      totalTokens += tokenCount;
      queueMs = Math.max(queueMs, result.queueMs);
      inferenceMs = Math.max(inferenceMs, result.inferenceMs);
      const vector =
        call.dimensions === undefined ? result.vector : result.vector.subarray(0, call.dimensions);
      if (normalize) normalizeInPlace(vector);
      return { vector, tokenCount, truncated: encoding?.truncated ?? false };
    });
    return {
      embeddings,
      totalTokens,
      model: this.model,
      timings: {
        tokenizationNs: Number(tokenized - started),
        queueNs: Math.round(queueMs * 1e6),
        inferenceNs: Math.round(inferenceMs * 1e6),
        totalNs: Number(process.hrtime.bigint() - started),
      },
    };
  }

  #callFinished(): void {
    this.#inFlight--;
    if (this.#inFlight > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** L2-normalises a vector in place; a zero vector stays zero. */
export function normalizeInPlace(vector: Float32Array): void {
  let sumOfSquares = 0;
  for (let index = 0; index < vector.length; index++) sumOfSquares += (vector[index] ?? 0) ** 2;
  const norm = Math.sqrt(sumOfSquares);
  if (norm === 0) return;
  // sentence-transformers clamps the norm at 1e-12; dividing only by a positive norm matches it.
  for (let index = 0; index < vector.length; index++)
    vector[index] = (vector[index] ?? 0) / Math.max(norm, 1e-12);
}
