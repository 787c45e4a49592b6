/**
 * The pipelines' side of embedding: split texts into calls of at most `maxBatchSize` texts and
 * `MAX_CALL_TEXT_BYTES`, keep at most `maxInflight` calls running, and retry calls that fail because
 * the server is unavailable or overloaded until it answers. Order of results matches the order of texts.
 */
import { chunkWithin } from "../../plumbing/chunks.ts";
import { Permits } from "../../plumbing/permits.ts";
import type { Logger } from "../../plumbing/logger.ts";
import { retry } from "../../plumbing/retry.ts";
import type { PipelineMetrics } from "./metrics.ts";
import { PipelineError, PipelineErrorCodes } from "./errors.ts";

/**
 * The most UTF-8 bytes of text one embedding call carries (a single longer text goes alone). Entity
 * texts are not bounded upstream: 64 texts of a few hundred KB would make a request above the
 * server's gRPC message limit (`limits.maxMessageBytes`, 4 MiB by default), which the server refuses
 * without retry, stopping the worker on the same records after each restart. 1 MiB stays well under
 * it (and a Kafka record, 1 MB by default, fits); short texts, the common case, still fill whole
 * batches, since 64 texts of 16 KB each are 1 MiB.
 */
export const MAX_CALL_TEXT_BYTES = 1024 * 1024;

/**
 * The text sent for `text`: itself, or its first MAX_CALL_TEXT_BYTES bytes (cut on a character
 * boundary) when it is longer. The server embeds a long text by its first `maxSequenceLength` tokens,
 * which lie far inside that prefix, so the vector is the same; sent whole, a text above the server's
 * gRPC message limit (4 MiB) would be refused without retry, and one such row would fail a bootstrap
 * shard (and stop a worker) on every rerun.
 */
export function textForTransport(text: string): string {
  // At most 3 UTF-8 bytes per UTF-16 code unit: no need to count the bytes of a short text.
  if (text.length * 3 <= MAX_CALL_TEXT_BYTES) return text;
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= MAX_CALL_TEXT_BYTES) return text;
  let end = MAX_CALL_TEXT_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back to the start of a character
  return bytes.subarray(0, end).toString("utf8");
}

/** `texts` cut into the calls that embed them: at most `maxBatchSize` texts and MAX_CALL_TEXT_BYTES each. */
export function embeddingCalls<T>(
  texts: readonly T[],
  maxBatchSize: number,
  textOf: (item: T) => string,
): T[][] {
  return chunkWithin(texts, maxBatchSize, MAX_CALL_TEXT_BYTES, (item) => Buffer.byteLength(textOf(item)));
}

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
    const sent = texts.map(textForTransport);
    const calls = embeddingCalls(sent, this.#options.maxBatchSize, (text) => text).map((slice) =>
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

/** The code under which pipelines report a record whose text the embedding server refused. */
export const EMBEDDING_REFUSED = "EMBEDDING_REFUSED";

/** The reason pipelines give for an EMBEDDING_REFUSED record: the server's own reason, prefixed. */
export function refusedTextReason(serverReason: string): string {
  return `the embedding server refused its text: ${serverReason}`;
}

/** What `embedIsolatingRefusals` found: vectors by text, and the server's reason for each refused text. */
export interface IsolatedEmbeddings {
  vectors: Map<string, Float32Array>;
  refused: Map<string, string>;
}

/**
 * Embeds `texts`; when the server refuses a call for its input (`isRefused`: INVALID_ARGUMENT, a size
 * limit), halves it until the refused texts stand alone, so one text the server will never take costs
 * its own record (dead-lettered by nearline, counted `failed` by bootstrap, with the server's reason)
 * and not the batch: a refusal is not retried, and a worker or bootstrap shard that failed on it would
 * meet it again after every restart, its partition (or run) stopped for good. Other errors are thrown
 * as they are.
 */
export async function embedIsolatingRefusals(
  embed: (texts: readonly string[]) => Promise<Float32Array[]>,
  texts: readonly string[],
  isRefused: (error: unknown) => boolean,
): Promise<IsolatedEmbeddings> {
  const found: IsolatedEmbeddings = { vectors: new Map(), refused: new Map() };
  const attempt = async (slice: readonly string[]): Promise<void> => {
    if (slice.length === 0) return;
    try {
      const vectors = await embed(slice);
      slice.forEach((text, index) => found.vectors.set(text, vectors[index]!));
    } catch (error) {
      if (!isRefused(error)) throw error;
      if (slice.length === 1) {
        found.refused.set(slice[0]!, error instanceof Error ? error.message : String(error));
        return;
      }
      const half = Math.ceil(slice.length / 2);
      await attempt(slice.slice(0, half));
      await attempt(slice.slice(half));
    }
  };
  await attempt(texts);
  return found;
}

/** Where a pipeline's embedder reports: retry and inference metrics under its labels, and warnings. */
export interface EmbedderReporting {
  readonly metrics: PipelineMetrics;
  readonly labels: { pipeline: string; version: string };
  readonly logger: Logger;
  /** Also told of each successful call (bootstrap counts inference into its checkpoint). */
  readonly onCall?: (texts: number) => void;
  /** Also told of each retried call (nearline reports how long its batch waits on the server). */
  readonly onRetry?: (error: unknown) => void;
}

/**
 * The embedder nearline and bootstrap build from their config: bounded, retried calls, each retry and
 * call counted in the pipeline metrics; a warning on the first retry and every tenth.
 */
export function createPipelineEmbedder(
  call: EmbedCall,
  options: Pick<BatchedEmbedderOptions, "maxBatchSize" | "maxInflight" | "isRetryable" | "signal">,
  reporting: EmbedderReporting,
): BatchedEmbedder {
  const { metrics, labels, logger } = reporting;
  return new BatchedEmbedder(call, {
    ...options,
    onRetry: (error, attempt) => {
      metrics.retries.inc({ ...labels, dependency: "embedding" });
      reporting.onRetry?.(error);
      if (attempt === 1 || attempt % 10 === 0)
        logger.warn({ err: error, attempt }, "embedding server unavailable; retrying");
    },
    onCall: (texts) => {
      metrics.inferenceCalls.inc(labels);
      metrics.inferenceTexts.inc(labels, texts);
      reporting.onCall?.(texts);
    },
  });
}
