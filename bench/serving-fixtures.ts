import { pino } from "pino";
import { EmbeddingClient } from "../serving/client.ts";
import { parseServingConfig } from "../serving/config.ts";
import { startEmbeddingServer } from "../serving/server.ts";

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

/**
 * Runs `body` against a real server on this machine (loopback gRPC, inference in the server's worker
 * thread), then closes it.
 */
export async function withServer<T>(
  settings: BenchServerSettings,
  body: (client: EmbeddingClient) => Promise<T>,
): Promise<T> {
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
  try {
    await server.ready;
    return await body(client);
  } finally {
    client.close();
    await server.close();
  }
}
