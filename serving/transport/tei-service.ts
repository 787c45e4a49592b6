/** text-embeddings-inference's gRPC services (tei.v1.Embed, tei.v1.Info) on the JUDE core. */
import type { ServerDuplexStream, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { ServingError } from "../core/errors.ts";
import type { EmbedCall } from "../core/types.ts";
import {
  type CallContext,
  contextWindowSize,
  outcomeOfSuccess,
  recordOutcome,
  runEmbed,
} from "./call-context.ts";
import {
  assertDecoded,
  authorize,
  truncationDirectionOf,
  type TruncationDirectionMessage,
  unary,
} from "./grpc-call.ts";
import { toGrpcStatus } from "./status-mapping.ts";
import { countRefusedInStream, onStreamEnd, type StreamEndSignal } from "./stream-drain.ts";
import { StreamWindow } from "./stream-window.ts";
import { teiInfo } from "./tei-info.ts";
import { teiHeaders, teiMetadata, type TeiMetadata } from "./tei-metadata.ts";

/** tei.v1.EmbedRequest as decoded by proto-loader. */
interface TeiEmbedRequest {
  inputs: string;
  truncate: boolean;
  normalize?: boolean;
  truncationDirection: TruncationDirectionMessage;
  promptName?: string;
  dimensions?: number;
}

interface TeiEmbedResponse {
  embeddings: number[];
  metadata: TeiMetadata;
}

function toCall(request: TeiEmbedRequest, signal: AbortSignal): EmbedCall {
  return {
    inputs: [{ text: request.inputs ?? "", promptName: request.promptName || undefined }],
    truncate: request.truncate ?? false,
    normalize: request.normalize ?? undefined,
    truncationDirection: truncationDirectionOf(request.truncationDirection),
    dimensions: request.dimensions ?? undefined,
    signal,
  };
}

async function embedOne(
  context: CallContext,
  request: TeiEmbedRequest,
  signal: AbortSignal,
): Promise<TeiEmbedResponse> {
  assertDecoded(request);
  const result = await runEmbed(context, toCall(request, signal));
  return {
    embeddings: Array.from(result.embeddings[0]?.vector ?? []),
    metadata: teiMetadata([request.inputs ?? ""], result),
  };
}

/**
 * Handlers of text-embeddings-inference's tei.v1.Embed (one text per call, `repeated float`
 * vectors), so TEI clients can point at a JUDE server unchanged. Unary answers carry TEI's x-* timing
 * headers as initial metadata.
 */
export function teiEmbedHandlers(
  context: CallContext,
  endSignal: StreamEndSignal,
): UntypedServiceImplementation {
  return {
    Embed: unary<TeiEmbedRequest, TeiEmbedResponse>(
      context,
      "tei.Embed",
      async (request, signal, responder) => {
        const response = await embedOne(context, request, signal);
        responder.sendHeaders(teiHeaders(response.metadata, context.info.executionProvider()));
        return response;
      },
    ),
    EmbedStream: (call: ServerDuplexStream<TeiEmbedRequest, TeiEmbedResponse>) =>
      teiStream(context, endSignal(call), call),
  };
}

/** Handlers of tei.v1.Info: the fields as TEI fills them, where they mean something here. */
export function teiInfoHandlers(context: CallContext): UntypedServiceImplementation {
  return {
    Info: unary(context, "tei.Info", async () => ({
      ...teiInfo(context),
      modelType: "MODEL_TYPE_EMBEDDING",
    })),
  };
}

/**
 * TEI's stream semantics: answers in request order (TEI clients match them by position) and the
 * first failure ends the stream with its status. Reading pauses while the stream's window is full
 * (requests read and not yet answered) or the client is not reading, so a client can stream any
 * number of requests without RESOURCE_EXHAUSTED.
 */
function teiStream(
  context: CallContext,
  endSignal: AbortSignal,
  call: ServerDuplexStream<TeiEmbedRequest, TeiEmbedResponse>,
): void {
  const controller = new AbortController();
  const window = new StreamWindow(call, contextWindowSize(context));
  let chain: Promise<void> = Promise.resolve();
  let failed = false;
  let ended = false;
  let inputEnded = false;
  let ending: ServingError | undefined;
  let failedWith: unknown;
  // "cancelled" also fires when the stream closes after a normal end.
  call.on("cancelled", () => {
    if (!ended) controller.abort();
  });
  const fail = (error: unknown): void => {
    if (failed) return;
    failed = true;
    failedWith = error;
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
  // At the drain's start or the connection's maximum age: the requests read so far are answered in
  // order, then the stream ends with UNAVAILABLE DRAINING / MAX_CONNECTION_AGE (see onStreamEnd), as
  // it would at the first request refused while draining. A client that half-closed meanwhile has
  // sent all it meant to: its stream ends OK (see "end").
  onStreamEnd(endSignal, call, (reason) => {
    ending = reason;
    void chain.then(() => {
      if (!ended && !inputEnded && !call.cancelled) fail(reason);
    });
  });
  call.on("data", (request: TeiEmbedRequest) => {
    if (failed) {
      // Read after the stream was ended (its window held it back until the requests in flight were
      // answered): not embedded, its client resends it elsewhere. Ended by a drain, it is counted,
      // once, as one read before the end is.
      if (ending !== undefined && failedWith === ending)
        countRefusedInStream(context, "tei.EmbedStream", ending);
      return;
    }
    if (ending !== undefined) {
      // Read once asked to end: not embedded, so a client that keeps writing cannot keep the stream
      // open until the connection is cut; the stream ends with the reason after the answers before
      // it, also if the client half-closes next (the request is not answered, so not OK).
      const reason = ending;
      countRefusedInStream(context, "tei.EmbedStream", reason);
      void chain.then(() => {
        if (!ended && !call.cancelled) fail(reason);
      });
      return;
    }
    window.admit(1);
    const startedAt = performance.now();
    const result = embedOne(context, request, controller.signal);
    result.catch(() => {}); // observed through the chain below, in order
    chain = chain.then(async () => {
      try {
        if (failed) {
          // Taken on behind the request that ended the stream: not answered, its client sees the
          // stream's status, so it is counted once with that code.
          recordOutcome(context, "grpc", "tei.EmbedStream", startedAt, failedWith);
          return;
        }
        const response = await result;
        recordOutcome(context, "grpc", "tei.EmbedStream", startedAt, outcomeOfSuccess(controller.signal));
        if (!call.cancelled) window.wrote(call.write(response));
      } catch (error) {
        recordOutcome(context, "grpc", "tei.EmbedStream", startedAt, error);
        fail(error);
      } finally {
        window.release(1);
      }
    });
  });
  call.on("end", () => {
    inputEnded = true;
    void chain.then(() => {
      if (failed || call.cancelled) return;
      ended = true;
      call.end();
    });
  });
}
