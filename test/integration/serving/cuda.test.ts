/**
 * The CUDA execution provider. With CUDA usable (an NVIDIA GPU and onnxruntime-node's CUDA binaries)
 * the server runs on it and matches the reference; without, `cuda` refuses to start with a message
 * that says why and what to do, and `auto` falls back to the CPU with a warning.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cudaAvailability } from "../../../serving/backend/onnx-session.ts";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import { cosine, readReference, spawnServe, startServer, type ServeProcess } from "./helpers.ts";

const cuda = cudaAvailability();

describe(cuda.available ? "on a machine with CUDA" : "on a machine without CUDA", () => {
  it(
    cuda.available
      ? "serves on the CUDA provider and matches the reference"
      : "`cuda` refuses to start, naming the missing library",
    async () => {
      if (cuda.available) {
        const server = await startServer({ backend: { executionProvider: "cuda" } });
        const client = new EmbeddingClient({ address: `127.0.0.1:${server.grpcPort}` });
        try {
          expect(await client.info()).toMatchObject({ executionProvider: "cuda" });
          const item = (await readReference()).items[0]!;
          expect(
            cosine((await client.embed([item.text])).vectors[0]!, item.embedding),
          ).toBeGreaterThanOrEqual(0.999);
        } finally {
          client.close();
          await server.close();
        }
        return;
      }
      await expect(startServer({ backend: { executionProvider: "cuda" } })).rejects.toMatchObject({
        name: "BackendError",
        code: "CUDA_UNAVAILABLE",
        message: expect.stringMatching(
          /^CUDA execution provider is not available: libonnxruntime_providers_cuda\.so is not installed next to onnxruntime-node .*choose executionProvider cpu or auto$/,
        ),
      });
    },
  );
});

describe("`jude serve --execution-provider`", () => {
  let serve: ServeProcess;
  beforeAll(async () => {
    serve = await spawnServe(["--execution-provider=auto", "--intra-op-threads=1"]);
    await serve.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
  });
  afterAll(async () => {
    serve.child.kill("SIGTERM");
    await serve.exited;
  });

  it("`auto` runs on the best provider available, warning when it falls back to the CPU", async () => {
    const client = new EmbeddingClient({ address: `127.0.0.1:${serve.grpcPort}` });
    try {
      const info = await client.info();
      expect(info.executionProvider).toBe(cuda.available ? "cuda" : "cpu");
      const warning = serve.logs.find((line) =>
        String(line.msg).startsWith("executionProvider auto: CUDA is not usable"),
      );
      if (cuda.available) expect(warning).toBeUndefined();
      else expect(warning).toMatchObject({ level: 40 });
    } finally {
      client.close();
    }
  });

  it(
    cuda.available ? "`cuda` serves" : "`cuda` exits 1 with the reason in the log and never reports ready",
    async () => {
      const serveCuda = await spawnServe(["--execution-provider=cuda"]);
      if (cuda.available) {
        await serveCuda.waitForLog((line) => line.msg === "model loaded and warmed up; serving");
        serveCuda.child.kill("SIGTERM");
        expect(await serveCuda.exited).toBe(0);
        return;
      }
      expect(await serveCuda.exited).toBe(1);
      expect(serveCuda.logs.find((line) => line.msg === "the model failed to load")).toMatchObject({
        err: {
          code: "CUDA_UNAVAILABLE",
          message: expect.stringContaining("libonnxruntime_providers_cuda.so"),
        },
      });
      expect(serveCuda.logs.some((line) => line.msg === "model loaded and warmed up; serving")).toBe(false);
    },
  );
});
