/**
 * Pipeline benchmark (`npm run bench -- pipeline [--json]`). In one run, on the real Kafka, Redis and
 * embedding server (all-MiniLM-L6-v2, fp32, CPU):
 *  - the serving ceiling: in-process ONNX Runtime at its best batch size on the changelog's texts;
 *  - the nearline worker on a backlog of >= 50,000 events over >= 10,000 keys, a share of them
 *    (default 2/3) no-op updates: events/s, embedded events/s, inference calls, skip ratio;
 *  - freshness p50/p95 (event time -> committed, so visible in the store) at 50% and 90% of that rate;
 *  - a naive pipeline (one event at a time, batch 1, one call in flight) on a smaller changelog.
 * Reports `vs_naive` (events/s ratio), `vs_ceiling` (embedded events/s over the ceiling), machine.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readModelManifest, resolveModel } from "../serving/model-manifest.ts";
import { loadTokenizer } from "../serving/tokenizer/tokenizer.ts";
import { up } from "../test/testbed/index.ts";
import { generateChangelog } from "./changelog.ts";
import { runPipeline, type RunEnvironment, type RunShape } from "./pipeline-run.ts";
import { openInProcessModel, withServer } from "./serving-fixtures.ts";
import { measureInProcess } from "./serving-load.ts";
import { machineInfo, median, round } from "./stats.ts";
import { createEntityTextRenderer } from "../pipelines/shared/entity-text.ts";
import { changelogExtract, changelogTemplate } from "./changelog.ts";

export interface PipelineBenchOptions {
  events?: number;
  keys?: number;
  noopShare?: number;
  naiveEvents?: number;
  pacedSeconds?: number;
  repeats?: number;
}

const batched: RunShape = { maxEvents: 512, maxBatchSize: 64, maxInflight: 2, partitions: 4 };
const naive: RunShape = { maxEvents: 1, maxBatchSize: 1, maxInflight: 1, partitions: 4 };

/** Runs the benchmark; returns one JSON-serialisable object of figures. */
export async function runPipelineBench(options: PipelineBenchOptions = {}): Promise<Record<string, unknown>> {
  const settings = {
    events: options.events ?? 50_000,
    keys: options.keys ?? 10_000,
    noopShare: options.noopShare ?? 2 / 3,
    naiveEvents: options.naiveEvents ?? 1_500,
    pacedSeconds: options.pacedSeconds ?? 10,
    repeats: options.repeats ?? 3,
  };
  const machine = machineInfo();
  const { env } = await up(["kafka", "redis", "model"]);
  const modelDir = env.JUDE_MODEL_DIR!;
  const changelog = generateChangelog({
    events: settings.events,
    keys: settings.keys,
    noopShare: settings.noopShare,
  });
  const ceiling = await servingCeiling(
    modelDir,
    distinctTexts(changelog.map((event) => event.value)),
    settings.repeats,
  );

  return withServer(
    {
      modelDir,
      precision: "fp32",
      executionProvider: "cpu",
      intraOpThreads: 2,
      maxBatchSize: ceiling.bestBatch,
      maxInputsPerCall: 128,
    },
    async (client) => {
      const runEnv: RunEnvironment = {
        kafka: env.JUDE_KAFKA_BOOTSTRAP!,
        redisUrl: env.JUDE_REDIS_URL!,
        embedCall: client.embedTexts,
        version: "bench-v1",
        digest: "sha256:bench",
      };
      const full = await runPipeline(runEnv, batched, changelog);
      const pacedEvents = (rate: number) =>
        generateChangelog({
          events: Math.round(rate * settings.pacedSeconds),
          keys: Math.max(1, Math.round((rate * settings.pacedSeconds) / 5)),
          noopShare: settings.noopShare,
          seed: 7,
        });
      const at50 = await runPipeline(
        runEnv,
        batched,
        pacedEvents(full.events_per_s * 0.5),
        full.events_per_s * 0.5,
      );
      const at90 = await runPipeline(
        runEnv,
        batched,
        pacedEvents(full.events_per_s * 0.9),
        full.events_per_s * 0.9,
      );
      const naiveChangelog = generateChangelog({
        events: settings.naiveEvents,
        keys: Math.round(settings.naiveEvents / 5),
        noopShare: settings.noopShare,
        seed: 11,
      });
      const naiveRun = await runPipeline(runEnv, naive, naiveChangelog);
      const skipRatio = full.skipped_unchanged / full.events;
      return {
        bench: "pipeline",
        events: full.events,
        keys: settings.keys,
        injected_noop_share: round(settings.noopShare, 4),
        skip_ratio: round(skipRatio, 4),
        events_per_s: round(full.events_per_s, 1),
        embedded_events: full.embedded,
        embedded_per_s: round(full.embedded_per_s, 1),
        inference_calls: full.inference_calls,
        inference_texts: full.inference_texts,
        serving_ceiling_sentences_per_s: round(ceiling.sentencesPerS, 1),
        ceiling_best_batch: ceiling.bestBatch,
        vs_ceiling: round(full.embedded_per_s / ceiling.sentencesPerS, 3),
        naive_events_per_s: round(naiveRun.events_per_s, 1),
        vs_naive: round(full.events_per_s / naiveRun.events_per_s, 2),
        freshness_p50_ms: round(at50.freshness_p50_ms ?? 0, 1),
        freshness_p95_ms: round(at50.freshness_p95_ms ?? 0, 1),
        freshness_at_50pct: {
          rate_per_s: round(full.events_per_s * 0.5, 1),
          p50_ms: round(at50.freshness_p50_ms ?? 0, 1),
          p95_ms: round(at50.freshness_p95_ms ?? 0, 1),
        },
        freshness_at_90pct: {
          rate_per_s: round(full.events_per_s * 0.9, 1),
          p50_ms: round(at90.freshness_p50_ms ?? 0, 1),
          p95_ms: round(at90.freshness_p95_ms ?? 0, 1),
        },
        targets: { skip_ratio: "== injected_noop_share", vs_naive: 5, vs_ceiling: 0.8 },
        shape: { batched, naive, naive_events: settings.naiveEvents },
        machine,
        load_average_1m_after: machineInfo().load_average_1m,
      };
    },
  );
}

/** The distinct prompt texts the changelog's events render to (what the ceiling embeds). */
function distinctTexts(documents: readonly unknown[]): string[] {
  const render = createEntityTextRenderer({
    extract: changelogExtract,
    template: changelogTemplate,
    modelVersion: "bench",
  });
  return [...new Set(documents.map((document) => render(document).text))];
}

/** In-process ONNX Runtime at its best batch size on these texts: median sentences/s over repeats. */
async function servingCeiling(
  modelDir: string,
  texts: string[],
  repeats: number,
): Promise<{ sentencesPerS: number; bestBatch: number }> {
  const manifest = await readModelManifest(modelDir);
  const tokenizer = await loadTokenizer(join(modelDir, manifest.files.tokenizer));
  const resolved = await resolveModel(modelDir, manifest, { precision: "fp32" });
  const model = await openInProcessModel(resolved, "cpu", 2);
  try {
    const maxLength = resolved.identity.maxSequenceLength;
    let best = { batch: 1, rate: 0 };
    for (const batchSize of [8, 16, 32, 64]) {
      const { sentences_per_s } = await measureInProcess(model, tokenizer, texts, {
        batchSize,
        durationMs: 1_000,
        minBatches: 2,
        maxLength,
      });
      if (sentences_per_s > best.rate) best = { batch: batchSize, rate: sentences_per_s };
    }
    const rates: number[] = [];
    for (let run = 0; run < repeats; run++) {
      rates.push(
        (
          await measureInProcess(model, tokenizer, texts, {
            batchSize: best.batch,
            durationMs: 3_000,
            maxLength,
          })
        ).sentences_per_s,
      );
    }
    return { sentencesPerS: median(rates), bestBatch: best.batch };
  } finally {
    await model.release();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { json: { type: "boolean" }, events: { type: "string" }, keys: { type: "string" } },
  });
  const figures = await runPipelineBench({
    ...(values.events ? { events: Number(values.events) } : {}),
    ...(values.keys ? { keys: Number(values.keys) } : {}),
  });
  if (!values.json) console.log(figures);
  console.log(JSON.stringify(figures));
}
