/** How an open stream learns that it should finish: the server drains, or its connection grew old. */
import { isServingError, servingErrors, type ServingError } from "../core/errors.ts";
import { recordOutcome, type CallContext } from "./call-context.ts";

/** The events of a grpc-js server stream that say it is over. */
export interface ClosingStream {
  once(event: "cancelled" | "close", listener: () => void): unknown;
}

/**
 * Runs `finish` once when `endSignal` fires while `stream` is open (on the next tick if it has fired
 * already: a stream opened on a connection that reached the pod late, during a drain). The signal
 * fires when the server's drain starts (reason DRAINING) or when the stream's connection reaches its
 * maximum age (reason MAX_CONNECTION_AGE), see streamEndSignal. A stream lives as long as its client
 * keeps it, so the drain or the age would otherwise leave it open until it cuts it at the end
 * (RST_STREAM CANCEL, or the connection destroyed after the age's grace): `finish` answers what the
 * stream has in flight and then ends it with the reason (UNAVAILABLE, retryable), which sends its
 * client to a new connection, through the Service to any replica that serves. grpc-js emits
 * "cancelled" when a server stream closes, also after a normal end.
 */
export function onStreamEnd(
  endSignal: AbortSignal,
  stream: ClosingStream,
  finish: (reason: ServingError) => void,
): void {
  const run = (): void =>
    finish(isServingError(endSignal.reason) ? endSignal.reason : servingErrors.draining());
  if (endSignal.aborted) {
    setImmediate(run);
    return;
  }
  endSignal.addEventListener("abort", run, { once: true });
  const forget = (): void => endSignal.removeEventListener("abort", run);
  stream.once("cancelled", forget);
  stream.once("close", forget);
}

/** The signal a stream of a call listens to for its end (see onStreamEnd); one per call. */
export type StreamEndSignal = (call: { getPeer(): string }) => AbortSignal;

/**
 * Counts a request a stream read once `reason` asked it to end and did not embed. One refused by a
 * drain is counted (UNAVAILABLE), as when such requests went to the draining embedder; one refused at
 * its connection's maximum age is not: that happens on every connection of a streaming client every
 * `maxConnectionAgeMs`, is no server error, and JudeServingErrors pages on UNAVAILABLE above 1%.
 */
export function countRefusedInStream(context: CallContext, method: string, reason: ServingError): void {
  if (reason.code === "DRAINING") recordOutcome(context, "grpc", method, performance.now(), reason);
}
