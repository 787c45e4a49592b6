/** Starts the real embedding server (real model from the testbed) in-process on loopback ports. */
import { parseServingConfig } from "../../serving/config.ts";
import { startEmbeddingServer, type EmbeddingServer } from "../../serving/server.ts";
import { requireEnv } from "./env.ts";

export interface TestEmbeddingServer {
  server: EmbeddingServer;
  address: string;
  version: string;
  digest: string;
}

/** A ready server for `version`; `overrides` are merged into the serving config. */
export async function startTestEmbeddingServer(
  version: string,
  overrides: Record<string, unknown> = {},
): Promise<TestEmbeddingServer> {
  const config = parseServingConfig({
    modelDir: requireEnv("JUDE_MODEL_DIR"),
    model: { version },
    listen: { host: "127.0.0.1", grpcPort: 0, httpPort: 0 },
    backend: { executionProvider: "cpu" }, // the default workers and threads
    logLevel: "warn",
    ...overrides,
  });
  const server = await startEmbeddingServer(config);
  await server.ready;
  return { server, address: `127.0.0.1:${server.grpcPort}`, version, digest: server.model.digest };
}
