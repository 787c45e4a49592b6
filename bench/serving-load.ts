/**
 * The measurements of the serving benchmark: ONNX Runtime called directly in this process (the
 * ceiling of the stack), and closed-loop load against a running server.
 */
import type { OnnxEmbeddingModel } from "../serving/backend/onnx-model.ts";
import { normalizeInPlace } from "../serving/core/embedder.ts";
import type { Tokenizer } from "../serving/tokenizer/tokenizer.ts";
import { percentile } from "./stats.ts";

/** Throughput and latency of one measurement. */
export interface Measurement {
  sentences_per_s: number;
  p50_ms: number;
  p95_ms: number;
  /** Calls (or in-process batches) completed inside the window. */
  calls: number;
}

function summarize(sentences: number, seconds: number, latenciesMs: number[]): Measurement {
  return {
    sentences_per_s: sentences / seconds,
    p50_ms: percentile(latenciesMs, 0.5),
    p95_ms: percentile(latenciesMs, 0.95),
    calls: latenciesMs.length,
  };
}

/**
 * The whole stack minus the server, on this thread: tokenize a batch, pad, run the session, pool,
 * normalise. Runs batches back to back for `durationMs` (and at least `minBatches`).
 */
export async function measureInProcess(
  model: OnnxEmbeddingModel,
  tokenizer: Tokenizer,
  texts: readonly string[],
  options: { batchSize: number; durationMs: number; minBatches?: number; maxLength: number },
): Promise<Measurement> {
  const latencies: number[] = [];
  let sentences = 0;
  let cursor = 0;
  const started = performance.now();
  while (performance.now() - started < options.durationMs || latencies.length < (options.minBatches ?? 2)) {
    const batch = Array.from({ length: options.batchSize }, () => texts[cursor++ % texts.length] ?? "");
    const batchStarted = performance.now();
    const ids = batch.map(
      (text) => tokenizer.encode(text, { maxLength: options.maxLength, truncate: true }).ids,
    );
    const { vectors, dimensions } = await model.embed(ids);
    for (let row = 0; row < batch.length; row++)
      normalizeInPlace(vectors.subarray(row * dimensions, (row + 1) * dimensions));
    latencies.push(performance.now() - batchStarted);
    sentences += batch.length;
  }
  return summarize(sentences, (performance.now() - started) / 1000, latencies);
}

/**
 * Closed-loop load: `concurrency` callers, each sending its next call as soon as the last one is
 * answered, with `textsPerCall` texts per call. Counts the calls that complete inside the measurement
 * window after `warmupMs` (whenever they started: in steady state that is the throughput); calls still
 * running at the end are awaited but not counted.
 */
export async function measureClosedLoop(
  call: (texts: string[]) => Promise<unknown>,
  texts: readonly string[],
  options: { concurrency: number; textsPerCall: number; durationMs: number; warmupMs: number },
): Promise<Measurement> {
  let cursor = 0;
  const begins = performance.now() + options.warmupMs;
  const ends = begins + options.durationMs;
  const latencies: number[] = [];
  let sentences = 0;
  const caller = async (): Promise<void> => {
    while (performance.now() < ends) {
      const batch = Array.from({ length: options.textsPerCall }, () => texts[cursor++ % texts.length] ?? "");
      const callStarted = performance.now();
      await call(batch);
      const finished = performance.now();
      if (finished >= begins && finished <= ends) {
        latencies.push(finished - callStarted);
        sentences += batch.length;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, caller));
  return summarize(sentences, options.durationMs / 1000, latencies);
}

/** Tokenizer speed on the benchmark texts (texts and tokens per second, this thread). */
export function measureTokenizer(tokenizer: Tokenizer, texts: readonly string[], durationMs: number) {
  let encoded = 0;
  let tokens = 0;
  let characters = 0;
  const started = performance.now();
  while (performance.now() - started < durationMs) {
    for (const text of texts) {
      tokens += tokenizer.encode(text, { maxLength: 512, truncate: true }).ids.length;
      characters += text.length;
    }
    encoded += texts.length;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    texts_per_s: encoded / seconds,
    tokens_per_s: tokens / seconds,
    mchars_per_s: characters / seconds / 1e6,
  };
}
