import { pino } from "pino";
import { EmbeddingClient } from "../pipelines/embedding-client/client.ts";
import { parseServingConfig } from "../serving/config.ts";
import { startEmbeddingServer } from "../serving/server.ts";
import { OnnxEmbeddingModel } from "../serving/backend/onnx-model.ts";
import type { ResolvedModel } from "../serving/model-manifest.ts";

/** What the benchmark server is started with. */
export interface BenchServerSettings {
  modelDir: string;
  precision: "fp32" | "fp16" | "int8";
  executionProvider: "cpu" | "cuda" | "auto";
  intraOpThreads: number;
  /** 1 turns batching off. */
  maxBatchSize: number;
  maxInputsPerCall: number;
}

/** A running benchmark server and a client connected to it. */
export interface BenchServer {
  client: EmbeddingClient;
  close(): Promise<void>;
}

/** Starts a real server on loopback (inference in its worker thread) and waits until it serves. */
export async function startBenchServer(settings: BenchServerSettings): Promise<BenchServer> {
  const config = parseServingConfig({
    modelDir: settings.modelDir,
    model: { precision: settings.precision },
    backend: {
      executionProvider: settings.executionProvider,
      intraOpThreads: settings.intraOpThreads,
      interOpThreads: 1,
    },
    batching: {
      maxBatchSize: settings.maxBatchSize,
      maxBatchTokens: Math.max(16_384, settings.maxBatchSize * 512),
      maxQueueDelayMs: settings.maxBatchSize === 1 ? 0 : 2,
      maxConcurrentRequests: 1_024,
    },
    limits: { maxInputsPerCall: settings.maxInputsPerCall },
    listen: { host: "127.0.0.1", grpcPort: 0, httpPort: 0 },
    logLevel: "silent",
  });
  const server = await startEmbeddingServer(config, { logger: pino({ level: "silent" }) });
  const client = new EmbeddingClient({ address: `127.0.0.1:${server.grpcPort}` });
  const close = async (): Promise<void> => {
    client.close();
    await server.close();
  };
  try {
    await server.ready;
  } catch (error) {
    await close();
    throw error;
  }
  return { client, close };
}

/** Runs `body` against a benchmark server, then closes it. */
export async function withServer<T>(
  settings: BenchServerSettings,
  body: (client: EmbeddingClient) => Promise<T>,
): Promise<T> {
  const server = await startBenchServer(settings);
  try {
    return await body(server.client);
  } finally {
    await server.close();
  }
}

/**
 * The model opened in the benchmark's own process, for an in-process ceiling (no server between):
 * the session options every benchmark compares against (no spinning, one inter-op thread).
 */
export function openInProcessModel(
  resolved: ResolvedModel,
  executionProvider: "cpu" | "cuda" | "auto" = "cpu",
  intraOpThreads = 2,
): Promise<OnnxEmbeddingModel> {
  return OnnxEmbeddingModel.open({
    modelPath: resolved.modelPath,
    executionProvider,
    intraOpThreads,
    interOpThreads: 1,
    allowSpinning: false,
    cudaDeviceId: 0,
    pooling: resolved.identity.pooling,
  });
}
