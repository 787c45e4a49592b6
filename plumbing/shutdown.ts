/**
 * Signal handling and drain for every process: the first SIGTERM/SIGINT asks for a graceful stop, a
 * second one for an immediate one; a drain waits for work in hand only up to a time limit.
 */

/** The signals that stop a JUDE process (Kubernetes sends SIGTERM; a terminal sends SIGINT). */
export const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT"];

/** What a process observes of its shutdown signals. */
export interface ShutdownSignals {
  /** Aborted on the first signal, with reason `Error("received SIGTERM")`. */
  readonly signal: AbortSignal;
  /** Resolves with the first signal's name. */
  readonly requested: Promise<NodeJS.Signals>;
  /** Resolves with the second signal's name: the drain should be cut short. */
  readonly forced: Promise<NodeJS.Signals>;
  /** Removes the handlers (a library or a test may install them more than once). */
  dispose(): void;
}

/** Event source of the signals; the process by default, a stand-in in tests. */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

/** Installs shutdown handlers; the default Node behaviour (exit at once) no longer applies. */
export function watchShutdownSignals(source: SignalSource = process): ShutdownSignals {
  const abort = new AbortController();
  const requested = Promise.withResolvers<NodeJS.Signals>();
  const forced = Promise.withResolvers<NodeJS.Signals>();
  let received = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    received++;
    if (received === 1) {
      abort.abort(new Error(`received ${signal}`));
      requested.resolve(signal);
    } else forced.resolve(signal);
  };
  for (const name of SHUTDOWN_SIGNALS) source.on(name, onSignal);
  return {
    signal: abort.signal,
    requested: requested.promise,
    forced: forced.promise,
    dispose: () => {
      for (const name of SHUTDOWN_SIGNALS) source.off(name, onSignal);
    },
  };
}

/**
 * Waits for `work` (finishing what is in hand) at most `timeoutMs`; when the time is up, calls
 * `onTimeout` (typically aborting the work's retries so it ends) and keeps waiting for it to settle.
 * Resolves true when the work finished within the time. The work's rejection is passed on.
 */
export async function drainWithin(
  work: Promise<unknown>,
  timeoutMs: number,
  onTimeout: () => void,
): Promise<boolean> {
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    onTimeout();
  }, timeoutMs);
  try {
    await work;
    return !expired;
  } finally {
    clearTimeout(timer);
  }
}
