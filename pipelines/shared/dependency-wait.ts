/**
 * Whether a worker's batch in hand is waiting on an unavailable dependency, since when, and why.
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

/** What /readyz shows while a batch waits: the dependency of the last retry, how long, the last error. */
export interface DependencyWaitReport {
  dependency: string;
  /** Since the batch in hand was taken (its first attempt), in whole seconds. */
  seconds: number;
  retries: number;
  error: string;
}

/** Tracks the batch in hand and the retries it made; one per worker. */
export class DependencyWait {
  #batchStartedAtMs: number | undefined;
  #last: { dependency: string; error: string } | undefined;
  #retries = 0;

  /** A batch was taken: its wait, if any, counts from now. */
  batchStarted(nowMs = Date.now()): void {
    this.#batchStartedAtMs = nowMs;
    this.#last = undefined;
    this.#retries = 0;
  }

  /** The batch in hand (or the stream it reads from) failed on `dependency` and is retried. */
  retried(dependency: string, error: unknown, nowMs = Date.now()): void {
    this.#batchStartedAtMs ??= nowMs;
    this.#last = { dependency, error: error instanceof Error ? error.message : String(error) };
    this.#retries += 1;
  }

  /** The batch was committed (or given up on a stop): nothing waits any more. */
  settled(): void {
    this.#batchStartedAtMs = undefined;
    this.#last = undefined;
    this.#retries = 0;
  }

  /** The wait in progress, or undefined when no retry happened since the batch was taken. */
  report(nowMs = Date.now()): DependencyWaitReport | undefined {
    if (this.#last === undefined || this.#batchStartedAtMs === undefined) return undefined;
    return {
      dependency: this.#last.dependency,
      seconds: Math.max(0, Math.floor((nowMs - this.#batchStartedAtMs) / 1000)),
      retries: this.#retries,
      error: this.#last.error,
    };
  }
}

/**
 * Registers jude_pipeline_dependency_wait_seconds on `registry`: one series while the batch in hand
 * waits (labelled with the dependency it last failed on), none otherwise.
 */
export function registerDependencyWaitMetric(
  registry: Registry,
  labels: { pipeline: string; version: string },
  wait: DependencyWait,
): void {
  new Gauge({
    name: "jude_pipeline_dependency_wait_seconds",
    help: "How long the batch in hand has been retried on an unavailable dependency (store, embedding, kafka); no series while none waits.",
    labelNames: ["pipeline", "version", "dependency"],
    registers: [registry],
    collect() {
      this.reset();
      const report = wait.report();
      if (report !== undefined) this.set({ ...labels, dependency: report.dependency }, report.seconds);
    },
  });
}
