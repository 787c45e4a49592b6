/** How an open stream learns that the server drains (see onDrainStart). */

/** The events of a grpc-js server stream that say it is over. */
export interface ClosingStream {
  once(event: "cancelled" | "close", listener: () => void): unknown;
}

/**
 * Runs `finish` once when the server's drain starts while `stream` is open (on the next tick if it
 * has started already: a stream opened on a connection that reached the pod late). A stream lives
 * as long as its client keeps it, so the drain would otherwise leave it open until it cuts it at
 * the end (RST_STREAM CANCEL, up to `drainTimeoutMs` later): `finish` answers what the stream has in
 * flight and then ends it with UNAVAILABLE DRAINING, which sends its client to another replica.
 * grpc-js emits "cancelled" when a server stream closes, also after a normal end.
 */
export function onDrainStart(drainSignal: AbortSignal, stream: ClosingStream, finish: () => void): void {
  if (drainSignal.aborted) {
    setImmediate(finish);
    return;
  }
  drainSignal.addEventListener("abort", finish, { once: true });
  const forget = (): void => drainSignal.removeEventListener("abort", finish);
  stream.once("cancelled", forget);
  stream.once("close", forget);
}
