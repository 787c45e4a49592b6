/**
 * One case of the serving benchmark (a text length and a precision): the in-process ceiling (a), the
 * server with batching (b, d) and without (c). After the batch-size sweep, the measurements run in
 * interleaved rounds — a, b, c, d, a, b, c, d, … — so a change in machine load during the run hits
 * all of them alike; ratios are the medians of the per-round ratios.
 */
import { resolveModel, type ModelManifest } from "../serving/model-manifest.ts";
import type { Tokenizer } from "../serving/tokenizer/tokenizer.ts";
import { openInProcessModel, startBenchServer } from "./serving-fixtures.ts";
import { measureClosedLoop, measureInProcess, type Measurement } from "./serving-load.ts";
import { median, round } from "./stats.ts";

/** What a case measures. */
export interface CaseInputs {
  modelDir: string;
  manifest: ModelManifest;
  precision: "fp32" | "fp16" | "int8";
  tokenizer: Tokenizer;
  texts: readonly string[];
}

/** How a case measures. */
export interface CaseSettings {
  durationMs: number;
  repeats: number;
  concurrency: number;
  batchedCallSize: number;
  batchSizes: number[];
  executionProvider: "cpu" | "cuda" | "auto";
  intraOpThreads: number;
}

/** Runs (a)-(d) for one case and returns its figures. */
export async function runServingCase(
  name: string,
  inputs: CaseInputs,
  settings: CaseSettings,
  progress: (message: string) => void,
): Promise<{ executionProvider: string; figures: Record<string, unknown> }> {
  const { modelDir, manifest, precision, tokenizer, texts } = inputs;
  const resolved = await resolveModel(modelDir, manifest, { precision });
  const maxLength = resolved.identity.maxSequenceLength;
  const model = await openInProcessModel(resolved, settings.executionProvider, settings.intraOpThreads);
  const servers: Array<{ close(): Promise<void> }> = [];
  try {
    progress(`${name}: (a) in-process, sweeping batch sizes ${settings.batchSizes.join(", ")}`);
    await measureInProcess(model, tokenizer, texts, {
      batchSize: 8,
      durationMs: 0,
      minBatches: 2,
      maxLength,
    });
    const sweep: Record<string, number> = {};
    for (const batchSize of settings.batchSizes) {
      const sample = await measureInProcess(model, tokenizer, texts, {
        batchSize,
        durationMs: settings.durationMs / 3,
        minBatches: 2,
        maxLength,
      });
      sweep[batchSize] = round(sample.sentences_per_s, 1);
    }
    const bestBatch = Number(Object.entries(sweep).sort((x, y) => y[1] - x[1])[0]?.[0] ?? 1);

    const serverSettings = {
      modelDir,
      precision,
      executionProvider: settings.executionProvider,
      intraOpThreads: settings.intraOpThreads,
      maxInputsPerCall: Math.max(128, settings.batchedCallSize),
    };
    const batching = await startBenchServer({ ...serverSettings, maxBatchSize: bestBatch });
    servers.push(batching);
    const unbatched = await startBenchServer({ ...serverSettings, maxBatchSize: 1 });
    servers.push(unbatched);

    const rounds: Array<Record<"a" | "b" | "c" | "d", Measurement>> = [];
    for (let round = 0; round < settings.repeats; round++) {
      progress(`${name}: round ${round + 1}/${settings.repeats} (best in-process batch ${bestBatch})`);
      const warmupMs = round === 0 ? 1_000 : 300;
      const load = (client: typeof batching.client, concurrency: number, textsPerCall: number) =>
        measureClosedLoop((batch) => client.embed(batch), texts, {
          concurrency,
          textsPerCall,
          durationMs: settings.durationMs,
          warmupMs,
        });
      rounds.push({
        a: await measureInProcess(model, tokenizer, texts, {
          batchSize: bestBatch,
          durationMs: settings.durationMs,
          maxLength,
        }),
        b: await load(batching.client, settings.concurrency, 1),
        c: await load(unbatched.client, settings.concurrency, 1),
        // Two batched callers keep the queue fed while holding few calls in flight, so many complete per window.
        d: await load(batching.client, 2, settings.batchedCallSize),
      });
    }
    const medianRun = (key: "a" | "b" | "c" | "d"): Record<string, number> => {
      const runs = rounds.map((entry) => entry[key]);
      const middle = median(runs.map((run) => run.sentences_per_s));
      const run = runs.find((candidate) => candidate.sentences_per_s === middle) ?? runs[0]!;
      return Object.fromEntries(Object.entries(run).map(([field, value]) => [field, round(value, 1)]));
    };
    const ratio = (top: "b", bottom: "a" | "c") =>
      round(median(rounds.map((entry) => entry[top].sentences_per_s / entry[bottom].sentences_per_s)));
    const tokens = texts.map((text) => tokenizer.encode(text, { maxLength, truncate: true }).ids.length);
    return {
      executionProvider: model.executionProvider,
      figures: {
        tokens_mean: round(tokens.reduce((sum, count) => sum + count, 0) / tokens.length, 1),
        inprocess: { ...medianRun("a"), best_batch: bestBatch, sweep_sentences_per_s: sweep },
        server: medianRun("b"),
        server_unbatched: medianRun("c"),
        server_batched_calls: { ...medianRun("d"), texts_per_call: settings.batchedCallSize },
        server_vs_inprocess: ratio("b", "a"),
        batching_gain: ratio("b", "c"),
        rounds: rounds.map((entry) => ({
          a: round(entry.a.sentences_per_s, 1),
          b: round(entry.b.sentences_per_s, 1),
          c: round(entry.c.sentences_per_s, 1),
          d: round(entry.d.sentences_per_s, 1),
        })),
      },
    };
  } finally {
    for (const server of servers) await server.close();
    await model.release();
  }
}
