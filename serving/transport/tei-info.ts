/** The facts text-embeddings-inference's Info reports, shared by its gRPC and HTTP forms. */
import { type CallContext, dockerLabel } from "./call-context.ts";

/** TEI's names for the precisions. */
export const teiDtypes = { fp32: "float32", fp16: "float16", int8: "int8" } as const;

/** TEI's Info fields (camelCase, as proto-loader encodes tei.v1.InfoResponse), without the model type. */
export interface TeiInfo {
  version: string;
  dockerLabel: string | undefined;
  modelId: string;
  modelSha: string;
  modelDtype: string;
  maxConcurrentRequests: number;
  maxInputLength: number;
  maxBatchTokens: number;
  maxBatchRequests: number;
  maxClientBatchSize: number;
  tokenizationWorkers: number;
}

/** Info as TEI fills it, where each field has a meaning here. */
export function teiInfo(context: CallContext): TeiInfo {
  const { model, permits, limits, batching } = context.embedder;
  return {
    version: context.info.serverVersion,
    dockerLabel: dockerLabel(),
    modelId: model.name,
    modelSha: model.digest,
    modelDtype: teiDtypes[model.precision],
    maxConcurrentRequests: permits.limit,
    maxInputLength: model.maxSequenceLength,
    maxBatchTokens: batching.maxBatchTokens,
    maxBatchRequests: batching.maxBatchSize,
    // TEI's limit on inputs per HTTP call; gRPC Embed takes one text per call.
    maxClientBatchSize: limits.maxInputsPerCall,
    // Texts are tokenized on the server's one event-loop thread.
    tokenizationWorkers: 1,
  };
}

/** TEI's `GET /info` body: the same facts in snake_case, with the model type TEI's JSON carries. */
export function teiInfoJson(context: CallContext): Record<string, unknown> {
  const info = teiInfo(context);
  const snake = Object.fromEntries(
    Object.entries(info).map(([key, value]) => [
      key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`),
      value ?? null,
    ]),
  );
  return {
    ...snake,
    sha: null,
    served_model_name: info.modelId,
    model_type: { embedding: { pooling: context.embedder.model.pooling } },
    // Inputs over the limit fail unless the request sets `truncate`.
    auto_truncate: false,
  };
}
