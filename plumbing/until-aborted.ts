// Bounding work that looks at its signal only between steps (a Kafka reader checks it between
// attempts, and one attempt against a broker that accepts connections and never answers lasts the
// client's request timeouts and retries; a store command retried through an outage): the caller (a
// reconcile, a bootstrap shard at SIGTERM) moves on when its signal aborts.

/** `work`, or the signal's reason as soon as it aborts (`work` goes on unobserved). */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
