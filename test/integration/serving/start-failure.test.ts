/**
 * `jude serve` whose HTTP port is taken (another process, a second server with the same settings)
 * cannot start: it must exit 1, so Kubernetes restarts it and shows why. The gRPC listener, bound
 * just before, was left listening, and the process stayed up, serving nothing, forever.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { modelDir, repoRoot } from "./helpers.ts";

const taken = createServer();
const cleanups: Array<() => unknown> = [() => taken.close()];
afterAll(() => {
  for (const cleanup of cleanups) cleanup();
});

/** Runs `jude serve` on the CPU with the model in `dir` and `httpPort` until it exits; its exit code and stdout. */
async function serveUntilExit(
  dir: string,
  httpPort: number,
): Promise<{ exitCode: number | null; stdout: string }> {
  const child = spawn(
    process.execPath,
    ["cli/jude.ts", "serve", "--model-dir", dir, "--host", "127.0.0.1", "--grpc-port", "0"].concat([
      "--http-port",
      String(httpPort),
      "--execution-provider=cpu",
    ]),
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  cleanups.push(() => child.exitCode === null && child.kill("SIGKILL"));
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { exitCode, stdout };
}

it("exits 1 when its HTTP port is taken", async () => {
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", () => resolve()));
  const { port } = taken.address() as { port: number };
  const { exitCode, stdout } = await serveUntilExit(modelDir(), port);
  expect({ exitCode, logged: stdout.includes("EADDRINUSE") }).toEqual({ exitCode: 1, logged: true });
});

it("exits 1, naming the failure, when its model file is corrupt (no reload path: a new model is a new pod)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "jude-corrupt-model-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  for (const name of await readdir(modelDir()))
    if (name !== "model.onnx") await symlink(join(modelDir(), name), join(dir, name));
  // The model's first 64 KiB: a download cut short.
  await writeFile(
    join(dir, "model.onnx"),
    (await readFile(join(modelDir(), "model.onnx"))).subarray(0, 65_536),
  );
  const { exitCode, stdout } = await serveUntilExit(dir, 0);
  const errors = stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { level: number; err?: { type?: string; message?: string } })
    .filter((line) => line.level >= 50);
  expect(exitCode).toBe(1);
  expect(errors.map((line) => [line.err?.type, line.err?.message?.includes("cannot load")])).toContainEqual([
    "BackendError",
    true,
  ]);
});
