import type { ServerDuplexStream, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { ServingError } from "../core/errors.ts";
import {
  type CallContext,
  contextWindowSize,
  outcomeOfSuccess,
  recordOutcome,
  runEmbed,
} from "./call-context.ts";
import {
  toEmbedCall,
  toEmbedResponse,
  toInfoResponse,
  type EmbedRequestMessage,
  type EmbedResponseMessage,
} from "./embed-messages.ts";
import { assertDecoded, authorize, unary } from "./grpc-call.ts";
import { asServingError, toGrpcStatus } from "./status-mapping.ts";
import { countRefusedInStream, onStreamEnd, type StreamEndSignal } from "./stream-drain.ts";
import { StreamWindow } from "./stream-window.ts";

interface StreamResponse {
  requestId: string;
  response?: EmbedResponseMessage;
  error?: { grpcCode: number; code: string; message: string };
}

/**
 * Handlers of jude.embedding.v1.EmbeddingService; `endSignal` tells an EmbedStream to finish (the
 * drain started, or its connection reached its maximum age).
 */
export function embeddingServiceHandlers(
  context: CallContext,
  endSignal: StreamEndSignal,
): UntypedServiceImplementation {
  return {
    Embed: unary<EmbedRequestMessage, EmbedResponseMessage>(context, "Embed", async (request, signal) =>
      toEmbedResponse(await runEmbed(context, toEmbedCall(request, signal)), request.requestId),
    ),
    Info: unary(context, "Info", async () => toInfoResponse(context)),
    EmbedStream: (call: ServerDuplexStream<EmbedRequestMessage, StreamResponse>) =>
      embedStream(context, endSignal(call), call),
  };
}

/**
 * A pipeline's stream: each request is admitted on its own (permits, validation), answered as soon
 * as it is done, and a failure is answered in-stream so one bad record does not tear down the
 * stream. Reading pauses while the stream's inputs in flight fill its window or while the client
 * does not read answers, so a client can stream a whole corpus without meeting RESOURCE_EXHAUSTED
 * and without growing the server's buffers.
 */
function embedStream(
  context: CallContext,
  endSignal: AbortSignal,
  call: ServerDuplexStream<EmbedRequestMessage, StreamResponse>,
): void {
  try {
    authorize(context, call.metadata);
  } catch (error) {
    recordOutcome(context, "grpc", "EmbedStream", performance.now(), error);
    call.emit("error", toGrpcStatus(error));
    return;
  }
  const controller = new AbortController();
  const window = new StreamWindow(call, contextWindowSize(context));
  let inputEnded = false;
  let ending: ServingError | undefined;
  let finished = false;
  // "cancelled" also fires when the stream closes after a normal end; only pending work is cancelled.
  call.on("cancelled", () => {
    if (window.inFlight > 0) controller.abort();
  });
  // Ends the stream once nothing is in flight: OK when the client has sent its last request, or
  // UNAVAILABLE DRAINING / MAX_CONNECTION_AGE when asked to end first (see onStreamEnd: the client
  // resends the rest on a new connection; requests read meanwhile during a drain were answered
  // DRAINING in-stream).
  const endIfDone = (): void => {
    if (finished || window.inFlight > 0 || call.cancelled || !(inputEnded || ending)) return;
    finished = true;
    if (inputEnded) call.end();
    else if (ending) call.emit("error", toGrpcStatus(ending));
  };
  onStreamEnd(endSignal, call, (reason) => {
    ending = reason;
    endIfDone();
  });
  const send = (message: StreamResponse): void => {
    if (!call.cancelled && !finished) window.wrote(call.write(message));
  };
  call.on("data", (request: EmbedRequestMessage) => {
    if (finished) {
      // Read after the stream was ended (its window held it back until the requests in flight were
      // answered): not answered, its client resends it elsewhere. Refused by a drain, it is counted,
      // once, as one answered DRAINING in-stream is.
      if (ending !== undefined) countRefusedInStream(context, "EmbedStream", ending);
      return;
    }
    if (ending !== undefined) {
      // Read once asked to end: answered at once (the client resends it on its new connection), so a
      // client that keeps writing cannot keep the stream open until the connection is cut.
      const servingError = ending;
      countRefusedInStream(context, "EmbedStream", servingError);
      const error = {
        grpcCode: toGrpcStatus(servingError).code,
        code: servingError.publicCode,
        message: servingError.message,
      };
      send({ requestId: request.requestId ?? "", error });
      return;
    }
    // A malformed request has no inputs to count but still takes a place until it is answered.
    const inputs = Math.max(1, request.inputs?.length ?? 0);
    window.admit(inputs);
    const startedAt = performance.now();
    const requestId = request.requestId ?? "";
    const work = async (): Promise<EmbedResponseMessage> => {
      assertDecoded(request);
      return toEmbedResponse(await runEmbed(context, toEmbedCall(request, controller.signal)), requestId);
    };
    work()
      .then(
        (response) => {
          recordOutcome(context, "grpc", "EmbedStream", startedAt, outcomeOfSuccess(controller.signal));
          send({ requestId, response });
        },
        (error: unknown) => {
          recordOutcome(context, "grpc", "EmbedStream", startedAt, error);
          const servingError = asServingError(error);
          send({
            requestId,
            error: {
              grpcCode: toGrpcStatus(error).code,
              code: servingError.publicCode,
              message: servingError.message,
            },
          });
        },
      )
      .finally(() => {
        window.release(inputs);
        endIfDone();
      });
  });
  call.on("end", () => {
    inputEnded = true;
    endIfDone();
  });
}
