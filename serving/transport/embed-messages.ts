import type { EmbedCall, EmbedResult } from "../core/types.ts";
import type { CallContext } from "./call-context.ts";
import { truncationDirectionOf, type TruncationDirectionMessage } from "./grpc-call.ts";

/** jude.embedding.v1.EmbedRequest as decoded by proto-loader (camelCase, enums as strings). */
export interface EmbedRequestMessage {
  inputs: Array<{ text: string; promptName: string; fields: Record<string, string> }>;
  truncate: boolean;
  normalize?: boolean;
  requestId: string;
  truncationDirection: TruncationDirectionMessage;
  dimensions?: number;
}

/** jude.embedding.v1.EmbedResponse. */
export interface EmbedResponseMessage {
  embeddings: Array<{ vector: Buffer; tokenCount: number; truncated: boolean }>;
  dimensions: number;
  modelName: string;
  modelVersion: string;
  modelDigest: string;
  totalTokens: number;
  timings: { tokenizationNs: number; queueNs: number; inferenceNs: number; totalNs: number };
  requestId: string;
}

/** Converts a decoded request into a transport-neutral call. */
export function toEmbedCall(message: EmbedRequestMessage, signal: AbortSignal): EmbedCall {
  return {
    inputs: (message.inputs ?? []).map((input) => ({
      text: input.text ?? "",
      promptName: input.promptName || undefined,
      fields: input.fields,
    })),
    truncate: message.truncate ?? false,
    normalize: message.normalize ?? undefined,
    truncationDirection: truncationDirectionOf(message.truncationDirection),
    dimensions: message.dimensions ?? undefined,
    signal,
  };
}

/** Builds the response; vectors are views on the computed floats, not copies. */
export function toEmbedResponse(result: EmbedResult, requestId: string): EmbedResponseMessage {
  return {
    embeddings: result.embeddings.map((embedding) => ({
      vector: Buffer.from(embedding.vector.buffer, embedding.vector.byteOffset, embedding.vector.byteLength),
      tokenCount: embedding.tokenCount,
      truncated: embedding.truncated,
    })),
    dimensions: result.embeddings[0]?.vector.length ?? result.model.dimensions,
    modelName: result.model.name,
    modelVersion: result.model.version,
    modelDigest: result.model.digest,
    totalTokens: result.totalTokens,
    timings: result.timings,
    requestId,
  };
}

/** jude.embedding.v1.InfoResponse. */
export function toInfoResponse(context: CallContext): Record<string, unknown> {
  const { embedder } = context;
  const { model } = embedder;
  return {
    modelName: model.name,
    modelVersion: model.version,
    modelDigest: model.digest,
    precision: model.precision,
    dimensions: model.dimensions,
    maxSequenceLength: model.maxSequenceLength,
    pooling: model.pooling,
    normalize: model.normalize,
    promptNames: embedder.promptNames,
    executionProvider: context.info.executionProvider(),
    maxBatchTokens: embedder.batching.maxBatchTokens,
    maxBatchSize: embedder.batching.maxBatchSize,
    maxConcurrentRequests: embedder.permits.limit,
    maxInputsPerCall: embedder.limits.maxInputsPerCall,
    serverVersion: context.info.serverVersion,
  };
}
