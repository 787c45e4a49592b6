import { Metadata, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { servingErrors } from "../core/errors.ts";
import { type CallContext, outcomeOfSuccess, recordOutcome } from "./call-context.ts";
import { malformation } from "./proto.ts";
import { toGrpcStatus } from "./status-mapping.ts";

/** Throws UNAUTHENTICATED unless the call carries the configured bearer token. */
export function authorize(context: CallContext, metadata: Metadata): void {
  if (context.auth === undefined) return;
  const value = metadata.get("authorization")[0];
  context.auth.check(typeof value === "string" ? value : undefined);
}

/** Throws MALFORMED_REQUEST when the request could not be decoded. */
export function assertDecoded(request: unknown): void {
  const error = malformation(request);
  if (error !== undefined) throw servingErrors.malformedRequest(error.message, error);
}

/** The proto enum TruncationDirection as proto-loader decodes it (an unknown value stays a number). */
export type TruncationDirectionMessage = "TRUNCATION_DIRECTION_RIGHT" | "TRUNCATION_DIRECTION_LEFT" | number;

/**
 * The direction a decoded request asks for. A value the proto does not define is refused with
 * INVALID_ARGUMENT rather than taken as RIGHT (proto3 keeps unknown enum values; TEI itself fails on
 * them).
 */
export function truncationDirectionOf(value: TruncationDirectionMessage | undefined): "left" | "right" {
  if (value === "TRUNCATION_DIRECTION_LEFT") return "left";
  if (value === undefined || value === "TRUNCATION_DIRECTION_RIGHT") return "right";
  throw servingErrors.malformedRequest(
    `truncation_direction ${String(value)} is not a TruncationDirection: send TRUNCATION_DIRECTION_RIGHT (0) or TRUNCATION_DIRECTION_LEFT (1)`,
  );
}

/** What a unary handler may do besides answering. */
export interface UnaryResponder {
  /** Sends response headers (initial metadata) before the answer, as TEI sends its timings. */
  sendHeaders(headers: Record<string, string>): void;
}

/**
 * Wraps a unary handler: authentication, malformed requests, cancellation (an AbortSignal that fires
 * when the client goes away or its deadline passes), metrics and the error mapping.
 */
export function unary<Request, Response>(
  context: CallContext,
  method: string,
  handle: (request: Request, signal: AbortSignal, responder: UnaryResponder) => Promise<Response>,
): (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => void {
  return (call, callback) => {
    const startedAt = performance.now();
    const controller = new AbortController();
    let answered = false;
    // grpc-js also emits "cancelled" when the stream closes after a normal answer; only a call that
    // is still being worked on is really cancelled.
    call.on("cancelled", () => {
      if (!answered) controller.abort();
    });
    const run = async (): Promise<Response> => {
      authorize(context, call.metadata);
      assertDecoded(call.request);
      return handle(call.request, controller.signal, {
        sendHeaders: (headers) => {
          const metadata = new Metadata();
          for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
          call.sendMetadata(metadata);
        },
      });
    };
    run().then(
      (response) => {
        answered = true;
        recordOutcome(context, "grpc", method, startedAt, outcomeOfSuccess(controller.signal));
        callback(null, response);
      },
      (error: unknown) => {
        answered = true;
        recordOutcome(context, "grpc", method, startedAt, error);
        callback(toGrpcStatus(error));
      },
    );
  };
}
