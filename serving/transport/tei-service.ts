import type { ServerDuplexStream, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { EmbedCall, EmbedResult } from "../core/types.ts";
import { type CallContext, recordOutcome, runEmbed } from "./call-context.ts";
import { assertDecoded, authorize, unary } from "./grpc-call.ts";
import { toGrpcStatus } from "./status-mapping.ts";

/** tei.v1.EmbedRequest as decoded by proto-loader. */
interface TeiEmbedRequest {
  inputs: string;
  truncate: boolean;
  normalize?: boolean;
  truncationDirection: "TRUNCATION_DIRECTION_RIGHT" | "TRUNCATION_DIRECTION_LEFT";
  promptName?: string;
  dimensions?: number;
}

interface TeiEmbedResponse {
  embeddings: number[];
  metadata: {
    computeChars: number;
    computeTokens: number;
    totalTimeNs: number;
    tokenizationTimeNs: number;
    queueTimeNs: number;
    inferenceTimeNs: number;
  };
}

function toCall(request: TeiEmbedRequest, signal: AbortSignal): EmbedCall {
  return {
    inputs: [{ text: request.inputs ?? "", promptName: request.promptName || undefined }],
    truncate: request.truncate ?? false,
    normalize: request.normalize ?? undefined,
    truncationDirection: request.truncationDirection === "TRUNCATION_DIRECTION_LEFT" ? "left" : "right",
    dimensions: request.dimensions ?? undefined,
    signal,
  };
}

function toResponse(request: TeiEmbedRequest, result: EmbedResult): TeiEmbedResponse {
  const { timings } = result;
  return {
    embeddings: Array.from(result.embeddings[0]?.vector ?? []),
    metadata: {
      computeChars: request.inputs.length,
      computeTokens: result.totalTokens,
      totalTimeNs: timings.totalNs,
      tokenizationTimeNs: timings.tokenizationNs,
      queueTimeNs: timings.queueNs,
      inferenceTimeNs: timings.inferenceNs,
    },
  };
}

/**
 * Handlers of text-embeddings-inference's tei.v1.Embed (one text per call, `repeated float`
 * vectors), so TEI clients can point at a JUDE server unchanged.
 */
export function teiEmbedHandlers(context: CallContext): UntypedServiceImplementation {
  return {
    Embed: unary<TeiEmbedRequest, TeiEmbedResponse>(context, "tei.Embed", async (request, signal) =>
      toResponse(request, await runEmbed(context, toCall(request, signal))),
    ),
    EmbedStream: (call: ServerDuplexStream<TeiEmbedRequest, TeiEmbedResponse>) => teiStream(context, call),
  };
}

/** Handlers of tei.v1.Info. */
export function teiInfoHandlers(context: CallContext): UntypedServiceImplementation {
  return {
    Info: unary(context, "tei.Info", async () => {
      const { model, permits, limits, batching } = context.embedder;
      return {
        version: context.info.serverVersion,
        modelId: model.name,
        modelSha: model.digest,
        modelDtype: { fp32: "float32", fp16: "float16", int8: "int8" }[model.precision],
        modelType: "MODEL_TYPE_EMBEDDING",
        maxConcurrentRequests: permits.limit,
        maxInputLength: model.maxSequenceLength,
        maxBatchTokens: batching.maxBatchTokens,
        maxBatchRequests: batching.maxBatchSize,
        maxClientBatchSize: limits.maxInputsPerCall,
        tokenizationWorkers: 1,
      };
    }),
  };
}

/**
 * TEI's stream semantics: answers in request order (TEI clients match them by position) and the
 * first failure ends the stream with its status.
 */
function teiStream(context: CallContext, call: ServerDuplexStream<TeiEmbedRequest, TeiEmbedResponse>): void {
  const controller = new AbortController();
  let chain: Promise<void> = Promise.resolve();
  let failed = false;
  let ended = false;
  // "cancelled" also fires when the stream closes after a normal end.
  call.on("cancelled", () => {
    if (!ended) controller.abort();
  });
  const fail = (error: unknown): void => {
    if (failed) return;
    failed = true;
    controller.abort();
    call.emit("error", toGrpcStatus(error));
  };
  try {
    authorize(context, call.metadata);
  } catch (error) {
    recordOutcome(context, "grpc", "tei.EmbedStream", performance.now(), error);
    fail(error);
    return;
  }
  call.on("data", (request: TeiEmbedRequest) => {
    const startedAt = performance.now();
    const result = (async () => {
      assertDecoded(request);
      return toResponse(request, await runEmbed(context, toCall(request, controller.signal)));
    })();
    result.catch(() => {}); // observed through the chain below, in order
    chain = chain.then(async () => {
      if (failed) return;
      try {
        const response = await result;
        recordOutcome(context, "grpc", "tei.EmbedStream", startedAt);
        call.write(response);
      } catch (error) {
        recordOutcome(context, "grpc", "tei.EmbedStream", startedAt, error);
        fail(error);
      }
    });
  });
  call.on("end", () => {
    void chain.then(() => {
      if (failed || call.cancelled) return;
      ended = true;
      call.end();
    });
  });
}
