/**
 * The pipelines' side of embedding: split texts into calls of at most `maxBatchSize` texts and
 * `MAX_CALL_TEXT_BYTES`, keep at most `maxInflight` calls running, and retry calls that fail because
 * the server is unavailable or overloaded until it answers. Order of results matches the order of texts.
 */
import { chunkWithin } from "../../plumbing/chunks.ts";
import { Permits } from "../../plumbing/permits.ts";
import type { Logger } from "../../plumbing/logger.ts";
import { retry, RETRY_FOREVER, waitBeforeRetry, type RetryPolicy } from "../../plumbing/retry.ts";
import type { PipelineMetrics } from "./metrics.ts";
import { PipelineError, PipelineErrorCodes } from "./errors.ts";
import {
  describeEmbeddingError,
  embeddingErrorStatus,
  isEmbeddingServerFailure,
} from "../embedding-client/errors.ts";

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

/**
 * How often one call that the server fails (INTERNAL, UNKNOWN, DEADLINE_EXCEEDED) is tried before its
 * error is thrown.
 */
export const SERVER_FAILURE_ATTEMPTS = 3;

/** One call to the embedding server: vectors in the order of `texts`. */
export type EmbedCall = (texts: string[], signal?: AbortSignal) => Promise<Float32Array[]>;

export interface BatchedEmbedderOptions {
  maxBatchSize: number;
  maxInflight: number;
  /** Which errors mean "try again later" (unavailable, overloaded, deadline); others are thrown. */
  isRetryable: (error: unknown) => boolean;
  /**
   * Failures of the server itself (INTERNAL, UNKNOWN, DEADLINE_EXCEEDED) that may pass: a call is tried
   * up to `serverFailureAttempts` times (with the same back-off) before its error is thrown, even when
   * `isRetryable` also takes it (a deadline): a text that hangs the server must not be retried without
   * end. Unset: none.
   */
  isServerFailure?: ((error: unknown) => boolean) | undefined;
  /** Attempts of one call that fails with a server failure; default SERVER_FAILURE_ATTEMPTS. */
  serverFailureAttempts?: number | undefined;
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
        const { isRetryable, isServerFailure, serverFailureAttempts } = this.#options;
        let serverFailures = 0;
        const result = await retry(() => this.#call(slice, this.#options.signal), {
          // The server's own failures (a deadline among them) a few times only; transient answers
          // (unavailable, overloaded) without limit.
          isRetryable: (error) =>
            isServerFailure?.(error) === true
              ? ++serverFailures < (serverFailureAttempts ?? SERVER_FAILURE_ATTEMPTS)
              : isRetryable(error),
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

/**
 * The code under which nearline dead-letters (and bootstrap counts `failed`) a record whose text alone
 * the embedding server keeps failing (INTERNAL, UNKNOWN) or never answers in time (DEADLINE_EXCEEDED)
 * while it answers a probe before and after: a text the model cannot take.
 */
export const EMBEDDING_FAILED = "EMBEDDING_FAILED";

/** The reason of an EMBEDDING_FAILED record: the server's status, code and message, prefixed. */
export function failedTextReason(serverError: string): string {
  return `the embedding server failed on this text alone, while it answered other calls: ${serverError}`;
}

/**
 * What `embedIsolatingRefusals` found: vectors by text, the server's reason for each refused text, and
 * (with `serverFailures`) the reason for each text the server failed on alone while otherwise healthy.
 */
export interface IsolatedEmbeddings {
  vectors: Map<string, Float32Array>;
  refused: Map<string, string>;
  failed: Map<string, string>;
}

/**
 * How a failing server is told apart from a text it cannot take. Unset, server failures are thrown.
 */
export interface ServerFailurePolicy {
  /**
   * The server failed the call itself (INTERNAL, UNKNOWN) or did not answer it in time
   * (DEADLINE_EXCEEDED), after the embedder's few attempts.
   */
  isFailure: (error: unknown) => boolean;
  /**
   * Resolves when the server embeds a known harmless text (one attempt, within the call's deadline);
   * rejects when it does not.
   */
  probe: () => Promise<void>;
  /** Told before each wait while the server fails every call, probe included. */
  onServerFailing?: ((error: unknown, attempt: number) => void) | undefined;
  /** The server's error as a reason (status, code, message). */
  describe?: ((error: unknown) => string) | undefined;
  /** Back-off while the server fails every call (default RETRY_FOREVER: 50 ms doubling to 5 s, jittered). */
  policy?: RetryPolicy | undefined;
  /** Ends the waits (a drain out of time): the abort error is thrown, nothing is isolated. */
  signal?: AbortSignal | undefined;
}

/** How `embedIsolatingRefusals` decides; a plain function is `{ isRefused }`. */
export interface IsolationPolicy {
  /** The server refused the input itself (INVALID_ARGUMENT, a size limit): isolated at once. */
  isRefused: (error: unknown) => boolean;
  serverFailures?: ServerFailurePolicy | undefined;
}

/**
 * Embeds `texts`; when the server refuses a call for its input (`isRefused`: INVALID_ARGUMENT, a size
 * limit), halves it until the refused texts stand alone, so one text the server will never take costs
 * its own record (dead-lettered by nearline, counted `failed` by bootstrap, with the server's reason)
 * and not the batch: a refusal is not retried, and a worker or bootstrap shard that failed on it would
 * meet it again after every restart, its partition (or run) stopped for good.
 *
 * With `serverFailures`, a call the server keeps failing itself (INTERNAL, UNKNOWN) or never answers in
 * time (DEADLINE_EXCEEDED: a text that hangs the model, or a slow server), already tried a few times by
 * the embedder, is not blamed on its texts until the server proves healthy: a probe of a harmless text
 * must succeed. Then the call is halved like a refused one; a text that, alone, fails again after a
 * successful probe, and while a second probe succeeds too, is `failed` (nearline dead-letters it,
 * bootstrap counts it failed: EMBEDDING_FAILED). When a probe fails, the server is failing (or too slow
 * for) every call: nothing is isolated, the same call is tried again after a back-off for as long as
 * that lasts (each wait reported through `onServerFailing`), until the signal ends the waits. Other
 * errors are thrown as they are.
 */
export async function embedIsolatingRefusals(
  embed: (texts: readonly string[]) => Promise<Float32Array[]>,
  texts: readonly string[],
  isolation: IsolationPolicy | ((error: unknown) => boolean),
): Promise<IsolatedEmbeddings> {
  const { isRefused, serverFailures } =
    typeof isolation === "function" ? { isRefused: isolation, serverFailures: undefined } : isolation;
  const found: IsolatedEmbeddings = { vectors: new Map(), refused: new Map(), failed: new Map() };
  let failingWaits = 0;
  const healthy = async (): Promise<boolean> => {
    try {
      await serverFailures!.probe();
      return true;
    } catch {
      return false;
    }
  };
  const attempt = async (slice: readonly string[]): Promise<void> => {
    if (slice.length === 0) return;
    // Set once the server answered a probe after this lone text failed: one more failure blames it.
    let probedHealthy = false;
    for (;;) {
      let failure: unknown;
      try {
        const vectors = await embed(slice);
        slice.forEach((text, index) => found.vectors.set(text, vectors[index]!));
        failingWaits = 0;
        return;
      } catch (error) {
        failure = error;
      }
      if (isRefused(failure)) {
        if (slice.length === 1)
          found.refused.set(slice[0]!, failure instanceof Error ? failure.message : String(failure));
        else await halve(slice);
        return;
      }
      if (serverFailures === undefined || !serverFailures.isFailure(failure)) throw failure;
      if (await healthy()) {
        if (slice.length > 1) return halve(slice);
        if (probedHealthy) {
          // The server answered a probe before and after this text failed alone: it is the text.
          const describe = serverFailures.describe ?? ((error) => String((error as Error).message ?? error));
          found.failed.set(slice[0]!, describe(failure));
          return;
        }
        probedHealthy = true; // one more try of the text alone, now that the server answers
        continue;
      }
      // The server fails (or is too slow for) everything: no text is to blame. Wait and try the same
      // call again; a lone text is blamed only after two probes answered around its failures.
      probedHealthy = false;
      failingWaits += 1;
      serverFailures.onServerFailing?.(failure, failingWaits);
      await waitBeforeRetry(serverFailures.policy ?? RETRY_FOREVER, failingWaits, serverFailures.signal);
    }
  };
  const halve = async (slice: readonly string[]): Promise<void> => {
    const half = Math.ceil(slice.length / 2);
    await attempt(slice.slice(0, half));
    await attempt(slice.slice(half));
  };
  await attempt(texts);
  return found;
}

/** The harmless text a probe embeds to learn whether the server answers at all. */
export const PROBE_TEXT = "jude pipeline probe";

/**
 * The server-failure policy nearline and bootstrap share (`embedIsolatingRefusals`): INTERNAL, UNKNOWN
 * and DEADLINE_EXCEEDED are server failures; the probe embeds PROBE_TEXT with one `call` (one attempt); each wait
 * while the server fails every call, probe included, counts a retry of dependency `embedding`, is told
 * to `reporting.onRetry` and logged (a warning on the first wait and every tenth) with the server's
 * error and what the pipeline does meanwhile (`waiting`). `signal` ends the waits and the probe.
 */
export function createServerFailurePolicy(
  call: EmbedCall,
  reporting: EmbedderReporting,
  options: { waiting: string; signal?: AbortSignal | undefined },
): ServerFailurePolicy {
  const { metrics, labels, logger } = reporting;
  return {
    isFailure: isEmbeddingServerFailure,
    probe: async () => {
      const vectors = await call([PROBE_TEXT], options.signal);
      if (vectors.length !== 1) throw new Error(`the probe got ${vectors.length} vectors for 1 text`);
    },
    describe: describeEmbeddingError,
    signal: options.signal,
    onServerFailing: (error, attempt) => {
      const reason = `the embedding server fails every call, a probe too (${describeEmbeddingError(error)}); ${options.waiting}`;
      metrics.retries.inc({ ...labels, dependency: "embedding" });
      reporting.onRetry?.(new Error(reason, { cause: error }));
      if (attempt === 1 || attempt % 10 === 0) logger.warn({ err: error, attempt }, reason);
    },
  };
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
  options: Pick<
    BatchedEmbedderOptions,
    "maxBatchSize" | "maxInflight" | "isRetryable" | "isServerFailure" | "signal"
  >,
  reporting: EmbedderReporting,
): BatchedEmbedder {
  const { metrics, labels, logger } = reporting;
  // Every failed call, by status: INTERNAL apart from UNAVAILABLE says whether the server or the path
  // to it fails (retries_total counts the retries, not why).
  const counted: EmbedCall = async (texts, signal) => {
    try {
      return await call(texts, signal);
    } catch (error) {
      const status = embeddingErrorStatus(error);
      if (status !== "CANCELLED") metrics.embeddingErrors.inc({ ...labels, status });
      throw error;
    }
  };
  return new BatchedEmbedder(counted, {
    ...options,
    onRetry: (error, attempt) => {
      metrics.retries.inc({ ...labels, dependency: "embedding" });
      reporting.onRetry?.(error);
      if (attempt === 1 || attempt % 10 === 0)
        logger.warn(
          { err: error, attempt, status: embeddingErrorStatus(error) },
          "embedding call failed; retrying",
        );
    },
    onCall: (texts) => {
      metrics.inferenceCalls.inc(labels);
      metrics.inferenceTexts.inc(labels, texts);
      reporting.onCall?.(texts);
    },
  });
}
