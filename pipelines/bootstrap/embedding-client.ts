/**
 * The embedding call of a bootstrap shard, built from the config's `embedding` section: the version's
 * gRPC embedding server (serving/client.ts). Kept in its own module so the rest of the shard depends
 * only on `EmbedCall`, which tests replace to count inference at the boundary.
 */
import { readFileSync } from "node:fs";
import type { z } from "zod";
import { EmbeddingClient, isRetryableEmbeddingError } from "../../serving/client.ts";
import { readSecret, type embeddingSection } from "../shared/config-common.ts";
import type { EmbedCall } from "../shared/embedding.ts";

/** A connected embedding client. */
export interface EmbeddingConnection {
  embed: EmbedCall;
  isRetryable: (error: unknown) => boolean;
  close(): void;
}

/**
 * Connects to the embedding server named in the config. Every answer's model digest is checked
 * against the version's: vectors of another model must never be stored under this version (a
 * misrouted Service would otherwise corrupt the whole version silently).
 */
export function connectEmbedding(
  section: z.infer<typeof embeddingSection>,
  modelDigest: string,
): EmbeddingConnection {
  const tls =
    section.tls === undefined
      ? undefined
      : section.tls.caFile !== undefined
        ? { ca: readFileSync(section.tls.caFile) }
        : true;
  const client = new EmbeddingClient({
    address: section.endpoint,
    ...(tls !== undefined ? { tls } : {}),
    ...(section.token !== undefined ? { token: readSecret(section.token, "embedding token") } : {}),
    deadlineMs: section.timeoutMs,
  });
  const embed: EmbedCall = async (texts, signal) => {
    // Long texts are cut to the model's limit, as the nearline path does, instead of failing the shard.
    const answer = await client.embed(texts, { truncate: true, ...(signal ? { signal } : {}) });
    if (answer.model.digest !== modelDigest) {
      throw new Error(
        `embedding server ${section.endpoint} serves model ${answer.model.digest}, but this version is ${modelDigest}`,
      );
    }
    return answer.vectors;
  };
  return { embed, isRetryable: isRetryableEmbeddingError, close: () => client.close() };
}
