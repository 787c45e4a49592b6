/**
 * Serving measured from outside (issue 16): `jude serve` in its own process, load from another —
 * `wrk` for OpenAI `POST /v1/embeddings`, a Node gRPC client process (serving-grpc-load.ts) for
 * `tei.v1.Embed` — with single-text calls at 64 connections and 32-text calls at 2, for short
 * (~18-token) and long (~128-token) texts. Beside each figure: the in-process ceiling (ONNX Runtime
 * called directly at batch 32, measured in the same round) as `external_vs_inprocess`.
 *
 * `--baseline DIR` also starts a server from another checkout (e.g. a worktree of main) and runs the
 * two alternately — case by case, in alternating order, round after round — so a noisy machine hits
 * both alike; `candidate_vs_baseline` is the median of the per-round ratios.
 *
 * `npm run bench -- serving-external [--baseline DIR [--baseline-model-dir DIR]] [--rounds N]
 * [--duration-ms N] [--cases a,b] [--cpu-prof DIR] [-- <extra jude serve flags for the candidate>]`:
 * one JSON line per case, then one JSON object of everything. Needs JUDE_MODEL_DIR (the candidate's
 * model and the in-process ceiling's; the baseline's too unless --baseline-model-dir names another,
 * e.g. the model directory a baseline checkout's testbed built).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import type { OnnxEmbeddingModel } from "../serving/backend/onnx-model.ts";
import { openInProcessModel } from "./serving-fixtures.ts";
import { readModelManifest, resolveModel } from "../serving/model-manifest.ts";
import { loadTokenizer, type Tokenizer } from "../serving/tokenizer/tokenizer.ts";
import { measureInProcess } from "./serving-load.ts";
import { processCpuMs, repoRoot, runNode, startServe, type ServeProcess } from "./serving-process.ts";
import { benchTexts } from "./serving-texts.ts";
import { ensureWrk, runWrk, writeWrkScript } from "./serving-wrk.ts";
import { machineInfo, median, round } from "./stats.ts";

type Length = "short" | "long";
type Protocol = "http" | "grpc";
const TARGET_TOKENS: Record<Length, number> = { short: 18, long: 128 };
const ALL_CASES = [
  "short_http_1",
  "short_grpc_1",
  "short_http_32",
  "short_grpc_32",
  "long_http_1",
  "long_grpc_1",
  "long_http_32",
  "long_grpc_32",
];

/** One case: text length, protocol, texts per call (1: 64 connections; more: 2 connections). */
interface Case {
  name: string;
  length: Length;
  protocol: Protocol;
  perCall: number;
  connections: number;
}

function parseCase(name: string): Case {
  const [length, protocol, perCall] = name.split("_") as [Length, Protocol, string];
  const texts = Number(perCall);
  return { name, length, protocol, perCall: texts, connections: texts === 1 ? 64 : 2 };
}

interface Sample {
  sentences_per_s: number;
  /** The server process's CPU time (all threads) per sentence in the window: robust to a busy machine. */
  server_cpu_ms_per_sentence: number;
  p50_ms: number;
  p95_ms: number;
  errors: number;
}

/** Everything a round needs to load one server with one case. */
interface Rig {
  wrk: string;
  dir: string;
  durationMs: number;
  warmupMs: number;
}

async function measure(rig: Rig, server: ServeProcess, c: Case): Promise<Sample> {
  const pid = server.child.pid!;
  // Long texts answer in seconds under 64 connections: their window is longer to hold many answers.
  const durationMs = rig.durationMs * (c.length === "long" ? 2.5 : 1);
  if (c.protocol === "http") {
    const script = join(rig.dir, `${c.length}-${c.perCall}.lua`);
    const url = `http://127.0.0.1:${server.http}`;
    await runWrk(rig.wrk, { url, script, connections: c.connections, durationMs: rig.warmupMs });
    const cpuBefore = await processCpuMs(pid);
    const result = await runWrk(rig.wrk, { url, script, connections: c.connections, durationMs });
    const cpuMs = (await processCpuMs(pid)) - cpuBefore;
    const sentences = result.calls_per_s * c.perCall;
    return {
      sentences_per_s: sentences,
      server_cpu_ms_per_sentence: cpuMs / (sentences * (durationMs / 1000)),
      p50_ms: result.p50_ms,
      p95_ms: result.p95_ms,
      errors: result.errors,
    };
  }
  const child = runNode([
    "bench/serving-grpc-load.ts",
    `--address=127.0.0.1:${server.grpc}`,
    `--texts-file=${join(rig.dir, `${c.length}.json`)}`,
    `--texts-per-call=${c.perCall}`,
    `--concurrency=${c.connections}`,
    `--connections=${Math.min(4, c.connections)}`,
    `--warmup-ms=${rig.warmupMs}`,
    `--duration-ms=${durationMs}`,
  ]);
  let last = "";
  let cpuBefore = 0;
  let cpuMs = 0;
  for await (const line of createInterface({ input: child.stdout! })) {
    if (line.includes('"measuring"')) cpuBefore = await processCpuMs(pid);
    else if (line.includes('"closed"')) cpuMs = (await processCpuMs(pid)) - cpuBefore;
    else last = line;
  }
  const result = JSON.parse(last) as {
    sentences_per_s: number;
    p50_ms: number;
    p95_ms: number;
    codes: Record<string, number>;
  };
  const errors = Object.entries(result.codes).reduce(
    (sum, [code, count]) => sum + (code === "0" ? 0 : count),
    0,
  );
  return {
    sentences_per_s: result.sentences_per_s,
    server_cpu_ms_per_sentence: cpuMs / (result.sentences_per_s * (durationMs / 1000)),
    p50_ms: result.p50_ms,
    p95_ms: result.p95_ms,
    errors,
  };
}

/** The in-process ceiling of one text length: ONNX Runtime at batch 32, 2 intra-op threads. */
async function ceiling(
  model: OnnxEmbeddingModel,
  tokenizer: Tokenizer,
  texts: readonly string[],
  durationMs: number,
) {
  const sample = await measureInProcess(model, tokenizer, texts, {
    batchSize: 32,
    durationMs,
    maxLength: 512,
  });
  return sample.sentences_per_s;
}

function cpuModel(): string {
  try {
    const line = execFileSync("lscpu", { encoding: "utf8" })
      .split("\n")
      .find((entry) => entry.startsWith("Model name:"));
    return line?.split(":")[1]?.trim() ?? machineInfo().cpu;
  } catch {
    return machineInfo().cpu;
  }
}

function summarize(samples: Sample[]) {
  const pick = (key: keyof Sample) => round(median(samples.map((sample) => sample[key])), 1);
  return {
    sentences_per_s: pick("sentences_per_s"),
    server_cpu_ms_per_sentence: round(median(samples.map((sample) => sample.server_cpu_ms_per_sentence)), 2),
    p50_ms: pick("p50_ms"),
    p95_ms: pick("p95_ms"),
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
    rounds: samples.map((s) => round(s.sentences_per_s, 1)),
  };
}

async function main(argv: readonly string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      json: { type: "boolean" },
      baseline: { type: "string" },
      "baseline-model-dir": { type: "string" },
      rounds: { type: "string", default: "3" },
      "duration-ms": { type: "string", default: "5000" },
      "warmup-ms": { type: "string", default: "1000" },
      cases: { type: "string", default: ALL_CASES.join(",") },
      "cpu-prof": { type: "string" },
    },
  });
  const modelDir = process.env.JUDE_MODEL_DIR;
  if (!modelDir) throw new Error('JUDE_MODEL_DIR is not set (eval "$(npm run -s testbed -- env)")');
  const progress = (message: string) => process.stderr.write(`[serving-external] ${message}\n`);
  const cases = values.cases.split(",").map(parseCase);
  const manifest = await readModelManifest(modelDir);
  const resolved = await resolveModel(modelDir, manifest, { precision: "fp32" });
  const tokenizer = await loadTokenizer(join(modelDir, manifest.files.tokenizer));
  const rig: Rig = {
    wrk: await ensureWrk(),
    dir: mkdtempSync(join(tmpdir(), "jude-serving-external-")),
    durationMs: Number(values["duration-ms"]),
    warmupMs: Number(values["warmup-ms"]),
  };
  const texts = {
    short: benchTexts(tokenizer, TARGET_TOKENS.short, 512),
    long: benchTexts(tokenizer, TARGET_TOKENS.long, 512),
  };
  for (const length of ["short", "long"] as const) {
    writeFileSync(join(rig.dir, `${length}.json`), JSON.stringify(texts[length]));
    for (const perCall of [1, 32])
      writeWrkScript(join(rig.dir, `${length}-${perCall}.lua`), texts[length], perCall);
  }
  const loadBefore = loadavg().map((value) => round(value, 2));
  const model = await openInProcessModel(resolved, "cpu", 2);
  await ceiling(model, tokenizer, texts.short, 0);

  const servers: Array<{ role: "candidate" | "baseline"; serve: ServeProcess }> = [];
  try {
    const profile = values["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${values["cpu-prof"]}`] : [];
    servers.push({
      role: "candidate",
      serve: await startServe({ modelDir, checkout: repoRoot, nodeFlags: profile, serveFlags: positionals }),
    });
    if (values.baseline)
      servers.push({
        role: "baseline",
        serve: await startServe({
          modelDir: values["baseline-model-dir"] ?? modelDir,
          checkout: values.baseline,
        }),
      });
    const samples = new Map<string, Sample[]>();
    const ceilings: Record<Length, number[]> = { short: [], long: [] };
    for (let roundIndex = 0; roundIndex < Number(values.rounds); roundIndex++) {
      for (const length of ["short", "long"] as const)
        ceilings[length].push(await ceiling(model, tokenizer, texts[length], 3_000));
      for (const c of cases) {
        const order = roundIndex % 2 === 0 ? servers : [...servers].reverse();
        for (const { role, serve } of order) {
          progress(`round ${roundIndex + 1}: ${c.name} on ${role}`);
          const key = `${c.name}/${role}`;
          samples.set(key, [...(samples.get(key) ?? []), await measure(rig, serve, c)]);
        }
      }
    }
    const results = cases.map((c) => {
      const inprocess = round(median(ceilings[c.length]), 1);
      const candidate = samples.get(`${c.name}/candidate`)!;
      const baseline = samples.get(`${c.name}/baseline`);
      const line = {
        bench: "serving-external",
        case: c.name,
        texts_per_call: c.perCall,
        connections: c.connections,
        candidate: summarize(candidate),
        ...(baseline ? { baseline: summarize(baseline) } : {}),
        inprocess_sentences_per_s: inprocess,
        inprocess_rounds: ceilings[c.length].map((value) => round(value, 1)),
        external_vs_inprocess: round(median(candidate.map((s) => s.sentences_per_s)) / inprocess),
        ...(baseline
          ? {
              candidate_vs_baseline: round(
                median(candidate.map((s, i) => s.sentences_per_s / baseline[i]!.sentences_per_s)),
              ),
            }
          : {}),
      };
      console.log(JSON.stringify(line));
      return line;
    });
    const machine = machineInfo();
    console.log(
      JSON.stringify({
        bench: "serving-external",
        cpu: cpuModel(),
        cores: machine.cores,
        flags: machine.flags,
        node: machine.node,
        load_average_before: loadBefore,
        load_average_after: loadavg().map((value) => round(value, 2)),
        settings: {
          rounds: Number(values.rounds),
          duration_ms: rig.durationMs,
          warmup_ms: rig.warmupMs,
          baseline: values.baseline ?? null,
          model_dir: modelDir,
          baseline_model_dir: values.baseline ? (values["baseline-model-dir"] ?? modelDir) : null,
          inprocess: "one ONNX Runtime session, 2 intra-op threads, batch 32, this process",
          candidate_flags: positionals,
          http_client: "wrk 4.1.0 -t1",
          grpc_client: "node @grpc/grpc-js, 4 channels",
        },
        cases: results,
      }),
    );
  } finally {
    for (const { serve } of servers) await serve.stop();
    await model.release();
  }
}

await main(process.argv.slice(2));
