/**
 * The embedding call of a bootstrap shard, built from the config's `embedding` section: the version's
 * gRPC embedding server. Kept in its own module so the rest of the shard depends only on `EmbedCall`.
 */
import type { z } from "zod";
import type { embeddingSection } from "../shared/config-common.ts";
import type { EmbedCall } from "../shared/embedding.ts";

/** A connected embedding client. */
export interface EmbeddingConnection {
  embed: EmbedCall;
  isRetryable: (error: unknown) => boolean;
  close(): void;
}

/** Connects to the embedding server named in the config. */
export function connectEmbedding(section: z.infer<typeof embeddingSection>): EmbeddingConnection {
  // TODO(serving/client.ts): wire the gRPC client once it lands.
  const notWired = async (): Promise<Float32Array[]> => {
    throw new Error(`no embedding client for ${section.endpoint}: serving/client.ts is not available yet`);
  };
  return { embed: notWired, isRetryable: () => false, close: () => undefined };
}
