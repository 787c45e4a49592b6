/** The pipelines' connection to the embedding server of their version, from the config's embedding section. */
import { readFileSync } from "node:fs";
import { EmbeddingClient, isRetryableEmbeddingError } from "../../serving/client.ts";
import { readSecret, type SecretSource } from "./config-common.ts";
import type { EmbedCall } from "./embedding.ts";

export interface EmbeddingSectionConfig {
  endpoint: string;
  tls?: { caFile?: string | undefined } | undefined;
  token?: SecretSource | undefined;
  timeoutMs: number;
}

/** Opens a client; `call` is the pipelines' EmbedCall, `close` releases the channel. */
export function connectEmbedding(section: EmbeddingSectionConfig): {
  call: EmbedCall;
  isRetryable: (error: unknown) => boolean;
  close: () => void;
} {
  const client = new EmbeddingClient({
    address: section.endpoint,
    deadlineMs: section.timeoutMs,
    ...(section.tls !== undefined
      ? { tls: section.tls.caFile !== undefined ? { ca: readFileSync(section.tls.caFile) } : true }
      : {}),
    ...(section.token !== undefined ? { token: readSecret(section.token, "embedding server token") } : {}),
  });
  return { call: client.embedTexts, isRetryable: isRetryableEmbeddingError, close: () => client.close() };
}
