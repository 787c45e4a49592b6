/**
 * Embedding for the bootstrap tests through the real embedding server (the `jude serve` code, on the
 * testbed's all-MiniLM-L6-v2) over gRPC, with inference counted exactly at the `EmbedCall` boundary.
 */
import type { EmbedCall } from "../../../pipelines/shared/embedding.ts";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import { startTestEmbeddingServer } from "../../support/embedding-server.ts";

/** The model's output width. */
export const MODEL_DIMENSIONS = 384;

/** A running server and a client of it; `embed` is one Embed call. */
export interface ServedEmbedder {
  readonly embed: EmbedCall;
  /** The digest of the model the server serves. */
  readonly digest: string;
  close(): Promise<void>;
}

/** Starts the server on loopback ports and connects to it. */
export async function startServedEmbedder(): Promise<ServedEmbedder> {
  const served = await startTestEmbeddingServer("v2", { logLevel: "silent" });
  const client = new EmbeddingClient({ address: served.address });
  return {
    embed: client.embedTexts,
    digest: served.digest,
    close: async () => {
      client.close();
      await served.server.close();
    },
  };
}

/** Wraps an embed call and records every text that reached it. */
export function countingEmbed(inner: EmbedCall): { embed: EmbedCall; texts: string[]; calls: () => number } {
  const texts: string[] = [];
  let calls = 0;
  return {
    texts,
    calls: () => calls,
    embed: async (batch, signal) => {
      const vectors = await inner(batch, signal);
      calls++;
      texts.push(...batch);
      return vectors;
    },
  };
}
