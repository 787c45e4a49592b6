/** The pipelines' connection to the embedding server of their version, from the config's embedding section. */
import { readFileSync } from "node:fs";
import { EmbeddingClient, isRetryableEmbeddingError } from "../embedding-client/client.ts";
import { readSecret, type SecretSource } from "./config-common.ts";
import type { EmbedCall } from "./embedding.ts";
import { PipelineError, PipelineErrorCodes } from "./errors.ts";

export interface EmbeddingSectionConfig {
  endpoint: string;
  tls?: { caFile?: string | undefined } | undefined;
  token?: SecretSource | undefined;
  timeoutMs: number;
}

/** Per-connection choices of the caller. */
export interface EmbeddingCallOptions {
  /**
   * Refuse any answer from a model other than this digest (not retryable): vectors of another model
   * must never be stored under this version, e.g. when a Service routes to the wrong Deployment.
   */
  modelDigest?: string;
  /**
   * Cut inputs longer than the model's limit instead of failing the call; default true. A pipeline
   * embeds rendered entity texts whose length nobody checks upstream, and spec.model.maxSequenceLength
   * promises that longer texts are truncated: failing instead (INVALID_ARGUMENT, not retryable) would
   * stop the worker on the first long job description and restart it onto the same record forever.
   * Bootstrap and the parity check truncate too, so every writer embeds a text the same way.
   */
  truncate?: boolean;
}

/** Opens a client; `call` is the pipelines' EmbedCall, `close` releases the channel. */
export function connectEmbedding(
  section: EmbeddingSectionConfig,
  options: EmbeddingCallOptions = {},
): {
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
  const { modelDigest, truncate = true } = options;
  const call: EmbedCall = async (texts, signal) => {
    const answer = await client.embed(texts, { truncate, ...(signal ? { signal } : {}) });
    if (modelDigest !== undefined && answer.model.digest !== modelDigest) {
      throw new PipelineError(
        PipelineErrorCodes.MODEL_MISMATCH,
        `embedding server ${section.endpoint} serves model ${answer.model.digest}, expected ${modelDigest}`,
      );
    }
    return answer.vectors;
  };
  return { call, isRetryable: isRetryableEmbeddingError, close: () => client.close() };
}
