/**
 * Serving benchmark. For short (~16 tokens) and long (~128 tokens) texts, fp32 and int8, measured
 * side by side in one run:
 *  (a) in-process ONNX Runtime at its best batch size (swept): the ceiling of this stack;
 *  (b) the gRPC server under 64 concurrent single-text callers (closed loop);
 *  (c) the same with batching off (max batch size 1);
 *  (d) batched client calls (2 callers, 32 texts per call).
 * Reports sentences/s and p50/p95 latency (per call; per batch for (a)), b/a (`server_vs_inprocess`)
 * and b/c (`batching_gain`), medians over interleaved rounds (see serving-case.ts), and the machine.
 * The server runs in this process (inference in its worker thread) with the same ONNX Runtime
 * settings as (a), and its max batch size set to the best batch size (a) found: both sides get the
 * same tuning. The load generator shares the machine's cores with the server, as (a) does not.
 *
 * `runServingBench()` returns the figures; `node bench/serving.ts [--json]` (or
 * `npm run bench -- serving --json`) runs it on JUDE_MODEL_DIR.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readModelManifest } from "../serving/model-manifest.ts";
import { loadTokenizer } from "../serving/tokenizer/tokenizer.ts";
import { runServingCase } from "./serving-case.ts";
import { measureTokenizer } from "./serving-load.ts";
import { formatServingTable } from "./serving-report.ts";
import { benchTexts } from "./serving-texts.ts";
import { machineInfo, round } from "./stats.ts";

type Precision = "fp32" | "fp16" | "int8";
type Length = "short" | "long";

/** Benchmark knobs; the defaults are what the README figures use. */
export interface ServingBenchOptions {
  modelDir?: string;
  lengths?: Length[];
  precisions?: Precision[];
  /** Measurement window per run, after a warm-up. Default 3000 ms. */
  durationMs?: number;
  /** Runs per figure; medians are reported. Default 3. */
  repeats?: number;
  /** Single-text callers for (b) and (c). Default 64. */
  concurrency?: number;
  /** Texts per call for (d). Default 32. */
  batchedCallSize?: number;
  /** In-process batch sizes tried for (a). */
  batchSizes?: number[];
  executionProvider?: "cpu" | "cuda" | "auto";
  /** ONNX Runtime intra-op threads for (a) and the server alike. Default 2. */
  intraOpThreads?: number;
  onProgress?: (message: string) => void;
}

const TARGET_TOKENS: Record<Length, number> = { short: 16, long: 128 };
const TEXTS_PER_CASE = 512;

/** Runs the benchmark and returns its figures (one JSON-serialisable object). */
export async function runServingBench(options: ServingBenchOptions = {}): Promise<Record<string, unknown>> {
  const modelDir = options.modelDir ?? process.env.JUDE_MODEL_DIR;
  if (!modelDir)
    throw new Error(
      'JUDE_MODEL_DIR is not set (eval "$(npm run -s testbed -- env)") and no --model-dir given',
    );
  const settings = {
    durationMs: options.durationMs ?? 3_000,
    repeats: options.repeats ?? 3,
    concurrency: options.concurrency ?? 64,
    batchedCallSize: options.batchedCallSize ?? 32,
    batchSizes: options.batchSizes ?? [1, 4, 8, 16, 32, 64],
    executionProvider: options.executionProvider ?? "cpu",
    intraOpThreads: options.intraOpThreads ?? 2,
  };
  const progress = options.onProgress ?? (() => {});
  const machineBefore = machineInfo();
  const manifest = await readModelManifest(modelDir);
  const tokenizer = await loadTokenizer(join(modelDir, manifest.files.tokenizer));
  const cases: Record<string, Record<string, unknown>> = {};
  let tokenizerFigures: Record<string, number> = {};
  let executionProvider = "";

  for (const precision of options.precisions ?? (["fp32", "int8"] as const)) {
    for (const length of options.lengths ?? (["short", "long"] as const)) {
      const name = `${length}_${precision}`;
      const texts = benchTexts(tokenizer, TARGET_TOKENS[length], TEXTS_PER_CASE);
      if (length === "long" && precision === "fp32") {
        tokenizerFigures = roundAll(measureTokenizer(tokenizer, texts, 1_000));
      }
      // Long texts answer in seconds under 64 callers; their windows are longer to hold many answers.
      const caseSettings = { ...settings, durationMs: settings.durationMs * (length === "long" ? 1.5 : 1) };
      const figures = await runServingCase(
        name,
        { modelDir, manifest, precision, tokenizer, texts },
        caseSettings,
        progress,
      );
      executionProvider = figures.executionProvider;
      cases[name] = figures.figures;
    }
  }

  const headline = cases.long_fp32 ?? {};
  return {
    bench: "serving",
    server_vs_inprocess: headline.server_vs_inprocess,
    batching_gain: headline.batching_gain,
    headline_case: "long_fp32",
    targets: { server_vs_inprocess: 0.85, batching_gain: 3 },
    execution_provider: executionProvider,
    intra_op_threads: settings.intraOpThreads,
    machine: machineBefore,
    load_average_1m_after: machineInfo().load_average_1m,
    settings: {
      duration_ms: settings.durationMs,
      repeats: settings.repeats,
      concurrency: settings.concurrency,
      batched_call_size: settings.batchedCallSize,
      batch_sizes: settings.batchSizes,
    },
    tokenizer_long_texts: tokenizerFigures,
    cases,
  };
}

function roundAll(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, round(value, 1)]));
}

/** `node bench/serving.ts [--json] [--quick] [--repeats N] [--duration-ms N] [--execution-provider P] [--threads N]`. */
export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      json: { type: "boolean" },
      quick: { type: "boolean" },
      repeats: { type: "string" },
      "duration-ms": { type: "string" },
      "execution-provider": { type: "string" },
      threads: { type: "string" },
      "model-dir": { type: "string" },
    },
  });
  const figures = await runServingBench({
    ...(values["model-dir"] ? { modelDir: values["model-dir"] } : {}),
    ...(values.quick ? { repeats: 1, durationMs: 1_000, batchSizes: [1, 4, 16] } : {}),
    ...(values.repeats ? { repeats: Number(values.repeats) } : {}),
    ...(values["duration-ms"] ? { durationMs: Number(values["duration-ms"]) } : {}),
    ...(values["execution-provider"]
      ? { executionProvider: values["execution-provider"] as "cpu" | "cuda" | "auto" }
      : {}),
    ...(values.threads ? { intraOpThreads: Number(values.threads) } : {}),
    onProgress: (message) => process.stderr.write(`[serving bench] ${message}\n`),
  });
  console.log(formatServingTable(figures));
  if (values.json) console.log(JSON.stringify(figures));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
