/**
 * Whether a worker's batch in hand, its start, or a call to a dependency that hangs is waiting on an
 * unavailable dependency, since when, and why.
 *
 * A nearline worker whose store hangs or whose embedding server is unreachable keeps its batch in hand
 * and retries it for as long as the outage lasts (nothing is lost, nothing is committed). Its probes
 * stay green on purpose: liveness must not restart workers for a dependency outage (every restart is a
 * consumer-group rebalance, and a new process waits on the same dependency), and readiness gates no
 * traffic (a worker has no Service). So the wait is reported instead: on /readyz (`waitingOn`, which
 * the operator folds into the NearlinePipeline's Ready condition) and as
 * jude_pipeline_dependency_wait_seconds{dependency}, which JudeNearlineDependencyUnavailable alerts on.
 */
import { Gauge, type Registry } from "prom-client";

/**
 * What /readyz shows while something waits: the dependency of the last retry (or the one whose calls go
 * unanswered), how long, the last error.
 */
export interface DependencyWaitReport {
  dependency: string;
  /**
   * In whole seconds: since the batch in hand was taken (its first attempt), the start's wait began,
   * or the first call to the dependency still unanswered was made, whichever is earliest.
   */
  seconds: number;
  retries: number;
  error: string;
}

/** A dependency whose calls go unanswered past their bound (see {@link whileUnanswered}). */
interface Unanswered {
  /** When the first of them was made. */
  sinceMs: number;
  error: string;
  reports: number;
  /**
   * Its calls unanswered past their bound now, in the order they were first reported: the first
   * speaks for them all (see {@link DependencyWait.unanswered}).
   */
  calls: object[];
}

/** Tracks the batch in hand and the retries it made; one per worker. */
export class DependencyWait {
  #batchStartedAtMs: number | undefined;
  #last: { dependency: string; error: string } | undefined;
  #retries = 0;
  /**
   * Dependencies whose calls go unanswered past their bound, until one is answered: a call the client
   * fails after its own timeouts does not end the wait (the next call, the lag check's 5 s later, hangs
   * as well), so it is said as one wait from its first call, not as a new one every few minutes,
   * which would never stand long enough for the operator's 60 s or the alert's 5 minutes.
   */
  readonly #unanswered = new Map<string, Unanswered>();

  /**
   * `call`, made to `dependency` at `sinceMs`, is still unanswered. True when it speaks for the calls
   * to `dependency` unanswered now (the first of them reported): several at once (the lag check's and
   * a rejoin's) are one wait, counted and logged once a period as one call is, not once per call.
   */
  unanswered(dependency: string, sinceMs: number, error: unknown, call: object): boolean {
    const before = this.#unanswered.get(dependency);
    const calls = before?.calls ?? [];
    if (!calls.includes(call)) calls.push(call);
    const speaks = calls[0] === call;
    this.#unanswered.set(dependency, {
      sinceMs: Math.min(sinceMs, before?.sinceMs ?? sinceMs),
      error: messageOf(error),
      reports: (before?.reports ?? 0) + (speaks ? 1 : 0),
      calls,
    });
    return speaks;
  }

  /** `call` to `dependency` ended, answered or failed: another unanswered call speaks in its place. */
  ended(dependency: string, call: object): void {
    const calls = this.#unanswered.get(dependency)?.calls ?? [];
    const index = calls.indexOf(call);
    if (index >= 0) calls.splice(index, 1);
  }

  /** When the first call to `dependency` still unanswered was made; undefined when none is. */
  unansweredSince(dependency: string): number | undefined {
    return this.#unanswered.get(dependency)?.sinceMs;
  }

  /** A call to `dependency` was answered: it answers again. */
  answered(dependency: string): void {
    this.#unanswered.delete(dependency);
  }

  /**
   * A call to `dependency` failed within its bound: it answers again, but with an error (or refuses
   * the connection). A wait from calls unanswered before goes on from the first of them (its calls
   * still fail: the operator's 60 s must not start over) but says that error, not "no answer".
   */
  answeredWith(dependency: string, error: unknown): void {
    const before = this.#unanswered.get(dependency);
    if (before !== undefined) before.error = messageOf(error);
  }

  /** A batch was taken: its wait, if any, counts from now. */
  batchStarted(nowMs = Date.now()): void {
    this.#batchStartedAtMs = nowMs;
    this.#last = undefined;
    this.#retries = 0;
  }

  /** The batch in hand (or the stream it reads from) failed on `dependency` and is retried. */
  retried(dependency: string, error: unknown, nowMs = Date.now()): void {
    // A wait that began with unanswered calls to the same dependency counts from them, in a batch
    // (one taken during the hang) or outside one (the stream reopening, the start): the seconds
    // said before must not go back, or the operator's 60 s would start over.
    this.#batchStartedAtMs = Math.min(
      this.#batchStartedAtMs ?? nowMs,
      this.#unanswered.get(dependency)?.sinceMs ?? nowMs,
    );
    this.#last = { dependency, error: messageOf(error) };
    this.#retries += 1;
  }

  /** The batch was committed (or given up on a stop): nothing waits any more. */
  settled(): void {
    this.#batchStartedAtMs = undefined;
    this.#last = undefined;
    this.#retries = 0;
  }

  /**
   * The wait in progress: the batch's retries, else the longest unanswered call; undefined when
   * neither (no retry since the batch was taken, every call answered within its bound).
   */
  report(nowMs = Date.now()): DependencyWaitReport | undefined {
    if (this.#last === undefined || this.#batchStartedAtMs === undefined) {
      const [dependency, oldest] =
        [...this.#unanswered].sort(([, a], [, b]) => a.sinceMs - b.sinceMs)[0] ?? [];
      if (dependency === undefined || oldest === undefined) return undefined;
      return {
        dependency,
        seconds: Math.max(0, Math.floor((nowMs - oldest.sinceMs) / 1000)),
        retries: oldest.reports,
        error: oldest.error,
      };
    }
    return {
      dependency: this.#last.dependency,
      seconds: Math.max(0, Math.floor((nowMs - this.#batchStartedAtMs) / 1000)),
      retries: this.#retries,
      error: this.#last.error,
    };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * How long a call to a dependency may go unanswered before it is reported as a wait: far beyond what
 * a slow but working broker takes to answer (seconds), far short of what the Kafka client waits
 * before it fails a request to a hung one (its 30 s request timeout, retried 5 times: minutes).
 */
export const unansweredAfterMs = 15_000;

/** How often a call still unanswered past its bound is reported again (counted, logged). */
const unansweredEveryMs = 5_000;

/**
 * Runs `call`; while it stays unanswered past `afterMs` (a dependency whose connections are open
 * but which answers nothing: a hung broker, a network partition), reports it every 5 s through
 * `wait` (/readyz `waitingOn`, dependency_wait_seconds) and `onUnanswered` (count and log it), as a
 * refused call's retries are; of several calls to it unanswered at once, one reports. Its answer ends
 * the wait; its failure does not: the caller retries it, and the next call unanswered goes on with the
 * same wait. A failure within its bound was answered, with an error: the wait says that error.
 */
export async function whileUnanswered<T>(
  call: () => Promise<T>,
  options: {
    wait: DependencyWait | undefined;
    dependency: string;
    onUnanswered: (error: Error) => void;
    afterMs?: number;
  },
): Promise<T> {
  const { wait, dependency, onUnanswered } = options;
  const sinceMs = Date.now();
  /** This call, among the calls to `dependency` unanswered at once. */
  const self = {};
  let reported = false;
  const tick = () => {
    // Counted from the wait's first unanswered call (an earlier one failed after the client's
    // timeouts), as /readyz's seconds are: the error beside them must not say fewer.
    const firstMs = Math.min(sinceMs, wait?.unansweredSince(dependency) ?? sinceMs);
    const seconds = Math.round((Date.now() - firstMs) / 1000);
    const error = new Error(
      `no answer from ${dependency} for ${seconds} s (its connections open, nothing answers: hung, or a network partition)`,
    );
    reported = true;
    if (wait?.unanswered(dependency, sinceMs, error, self) ?? true) onUnanswered(error);
  };
  let every: NodeJS.Timeout | undefined;
  const after = setTimeout(() => {
    tick();
    every = setInterval(tick, unansweredEveryMs).unref();
  }, options.afterMs ?? unansweredAfterMs).unref();
  try {
    const answer = await call();
    wait?.answered(dependency);
    return answer;
  } catch (error) {
    // One that failed past its bound spent the client's own timeouts: still no answer.
    if (!reported) wait?.answeredWith(dependency, error);
    throw error;
  } finally {
    clearTimeout(after);
    clearInterval(every);
    wait?.ended(dependency, self);
  }
}

/**
 * Registers jude_pipeline_dependency_wait_seconds on `registry`: one series while something waits (the
 * batch in hand, the start, or a call gone unanswered; labelled with the dependency `report` names),
 * none otherwise.
 */
export function registerDependencyWaitMetric(
  registry: Registry,
  labels: { pipeline: string; version: string },
  wait: DependencyWait,
): void {
  new Gauge({
    name: "jude_pipeline_dependency_wait_seconds",
    help: "How long the batch in hand has been retried on an unavailable dependency (store, embedding, kafka), or a call to one has gone unanswered; no series while none waits.",
    labelNames: ["pipeline", "version", "dependency"],
    registers: [registry],
    collect() {
      this.reset();
      const report = wait.report();
      if (report !== undefined) this.set({ ...labels, dependency: report.dependency }, report.seconds);
    },
  });
}
