// The pipeline's CaughtUp condition: every live version's workers within the model's lag gate
// (spec.promotion.maxLagSeconds), judged from the same figures the EmbeddingModel's CaughtUp promotion
// gate reads from this status (summed consumer lag, freshness p95), by the same rule, so the two never
// disagree about one version. Pure.
import type { PipelineVersionStatus } from "../../crds/index.ts";
import type { ConditionInput } from "../shared/conditions.ts";
import { caughtUpGate } from "../embedding-model/promotion-gates.ts";
import type { WaitingVersion } from "./live-versions.ts";
import { readySinceMs, type PodReadinessView } from "../shared/progress-deadline.ts";

/**
 * How often status is refreshed from the workers' figures, and a missing Secret looked for again,
 * unless the operator says otherwise (--pipeline-poll-seconds).
 */
export const pipelinePollMs = 30_000;

/**
 * How soon the figures are read again while a version has ready workers that have not reported their
 * lag: a worker reports it within seconds of joining its group (once it has read its partitions' end
 * offsets), and a promotion's CaughtUp gate waits on that first figure, which a whole poll (30 s by
 * default) would delay for no reason. The flag's own minimum, so no faster than a poll may be set.
 */
export const lagPendingPollMs = 2_000;

/**
 * How long after a worker turned ready its missing lag figure is read again soon: a worker that has
 * not reported by then will not within seconds (its lag checks fail: the brokers, or its ops port,
 * are out of reach), and reading it every 2 s for ever would only load the operator and the pods.
 */
export const lagPendingWindowMs = 60_000;

/**
 * When the figures are read next: soon while ready workers owe their first lag figure, for the
 * versions in `recentlyReady` (a worker turned ready within lagPendingWindowMs); at the poll's pace
 * otherwise.
 */
export function nextFiguresReadMs(
  versions: readonly PipelineVersionStatus[],
  pollMs: number = pipelinePollMs,
  recentlyReady: ReadonlySet<string> = new Set(versions.map((entry) => entry.version)),
): number {
  const pending = versions.some(
    (entry) => (entry.readyReplicas ?? 0) > 0 && entry.lag === undefined && recentlyReady.has(entry.version),
  );
  return pending ? Math.min(pollMs, lagPendingPollMs) : pollMs;
}

/** Whether one of `pods` turned Ready within `windowMs` before `nowMs` (its Ready condition's time). */
export function turnedReadyWithin(
  pods: readonly PodReadinessView[],
  nowMs: number,
  windowMs: number = lagPendingWindowMs,
): boolean {
  return pods.some((pod) => {
    const since = readySinceMs(pod);
    return since !== undefined && nowMs - since < windowMs;
  });
}

/**
 * "waiting for a lag figure from its 2 ready workers (read every 2 s for a minute after they turn ready, then every 30 s)": ready workers whose lag is
 * not known yet. A new version's workers are ready a moment before their figures are read (again
 * every 2 s until they report), and a worker reports lag only once it has read its partitions' end
 * offsets; without this the status said only that nobody reported, as if the workers were missing.
 */
export function waitingForLag(readyWorkers: number, pollMs: number = pipelinePollMs): string {
  const workers = readyWorkers === 1 ? "its 1 ready worker" : `its ${readyWorkers} ready workers`;
  const soon = Math.min(pollMs, lagPendingPollMs);
  const pace =
    soon < pollMs
      ? `read every ${soon / 1000} s for a minute after they turn ready, then every ${pollMs / 1000} s`
      : `read every ${pollMs / 1000} s`;
  return `waiting for a lag figure from ${workers} (${pace})`;
}

/**
 * CaughtUp from the versions' figures. True when every live version reported its lag and it has
 * nothing left to read or its freshness p95 is within `maxLagSeconds`; False (CatchingUp) when a
 * version is measurably behind; Unknown while a version's workers have not reported their lag or a
 * live version's workers have not started (`waiting`, e.g. for its bootstrap's offsets:
 * WaitingForWorkers), or no version is measured at all (NotMeasured, e.g. while Stalled).
 */
export function caughtUpCondition(
  versions: readonly PipelineVersionStatus[],
  maxLagSeconds: number | undefined,
  waiting: readonly WaitingVersion[] = [],
  pollMs: number = pipelinePollMs,
): ConditionInput {
  if ((versions.length === 0 && waiting.length === 0) || maxLagSeconds === undefined)
    return {
      type: "CaughtUp",
      status: "Unknown",
      reason: "NotMeasured",
      message: "no live version's workers are measured (see the Ready condition)",
    };
  const judged = versions.map((entry) => ({
    version: entry.version,
    workers: entry.readyReplicas ?? 0,
    gate: caughtUpGate(
      entry.version,
      {
        pipelines: 1,
        reporting: entry.lag === undefined ? 0 : 1,
        ...(entry.lag !== undefined ? { records: entry.lag } : {}),
        ...(entry.freshnessP95Ms !== undefined ? { freshnessSeconds: entry.freshnessP95Ms / 1000 } : {}),
      },
      maxLagSeconds,
    ),
  }));
  const behind = judged.filter((entry) => entry.gate.reason === "CatchingUp");
  const unreported = judged.filter((entry) => entry.gate.reason === "WaitingForWorkers");
  const describe = (entries: typeof judged) =>
    entries
      .map((entry) =>
        entry.gate.reason === "WaitingForWorkers"
          ? `version ${entry.version}: ${entry.workers > 0 ? waitingForLag(entry.workers, pollMs) : "no worker reported its lag yet"}`
          : entry.gate.message,
      )
      .join("; ");
  if (behind.length > 0)
    return { type: "CaughtUp", status: "False", reason: "CatchingUp", message: describe(behind) };
  if (unreported.length > 0 || waiting.length > 0)
    return {
      type: "CaughtUp",
      status: "Unknown",
      reason: "WaitingForWorkers",
      message: [
        describe(unreported),
        ...waiting.map((entry) => `version ${entry.version}: its workers have not started`),
      ]
        .filter((part) => part !== "")
        .join("; "),
    };
  return { type: "CaughtUp", status: "True", reason: "CaughtUp", message: describe(judged) };
}
