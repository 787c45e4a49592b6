/**
 * A shutdown that closes the inference workers while one still runs a batch (the drain timed out or a
 * second signal cut it short, and the batch outlasts the close timeout: a long CPU batch, a slow GPU)
 * must not terminate that worker: terminating a thread inside an ONNX Runtime run aborts the whole
 * process (SIGABRT: no exit code, no last log). The backend runs in a child process, on the real
 * model, with a close timeout shorter than its batch.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it, onTestFinished } from "vitest";
import { modelDir, repoRoot } from "./helpers.ts";

const script = `
import { OnnxBackend } from ${JSON.stringify(join(repoRoot, "serving/backend/onnx-backend.ts"))};
const warnings = [];
const backend = await OnnxBackend.start({
  modelPath: ${JSON.stringify(join(modelDir(), "model.onnx"))},
  executionProvider: "cpu", intraOpThreads: 1, interOpThreads: 1, allowSpinning: false, cudaDeviceId: 0,
  pooling: "mean", warmupShapes: [[1, 8]], expectedDimensions: 384,
  onWarning: (message) => warnings.push(message),
  closeTimeoutMs: 1,
});
const inputs = Array.from({ length: 16 }, () => {
  const ids = new Int32Array(256).fill(1037);
  ids[0] = 101;
  ids[255] = 102;
  return ids;
});
const batch = backend.embed(inputs).then((vectors) => "answered " + vectors.length, (error) => "failed " + error.message);
await backend.close();
console.log(JSON.stringify({ batch: await batch, warnings }));
`;

it("waits for the running batch instead of aborting the process when the close timeout passes", async () => {
  const dir = await mkdtemp(join(tmpdir(), "jude-worker-close-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "close-mid-batch.mjs"), script);
  const child = spawn(process.execPath, [join(dir, "close-mid-batch.mjs")], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on("exit", (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
  );
  expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: "" });
  expect(JSON.parse(stdout)).toEqual({
    batch: `answered ${16 * 384}`,
    warnings: [
      "the inference worker is still running a batch; waiting for it to end before the worker exits",
    ],
  });
});
