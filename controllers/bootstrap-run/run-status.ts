// A BootstrapRun's status from its Job's lifecycle and its shards' checkpoints: phase (Pending,
// Running, Suspended, Succeeded, Failed), progress with percent and ETA, start and completion times,
// and the conditions. A run whose status says Succeeded or Failed is finished and never changes again.
import type { V1Job, V1JobCondition } from "@kubernetes/client-node";
import type { BootstrapPhase, BootstrapRun, BootstrapRunStatus } from "../../crds/index.ts";
import type { CheckpointState } from "../../pipelines/bootstrap/checkpoint-codec.ts";
import { findCondition, kstatusConditions, type ConditionInput, type Kstatus } from "../shared/conditions.ts";
import { describeFailing, podFailingReason, type FailingPods } from "../shared/failing-pods.ts";
import type { MissingSecretReference } from "../nearline-pipeline/secret-refs.ts";
import { describeRefused, type RefusedPods } from "../shared/refused-pods.ts";
import { describeUnschedulable, type UnschedulablePods } from "../shared/unschedulable-pods.ts";
import { etaMs, formatDuration, runProgress } from "./run-progress.ts";
import { describeShardRetries, type ShardRetries } from "./shard-retries.ts";

/** What the controller read about a run that has a Job (or should have one). */
export interface RunObservation {
  run: BootstrapRun;
  job: V1Job | undefined;
  /** Checkpoints per shard index; undefined when the store could not be read this time. */
  checkpoints: readonly (CheckpointState | null)[] | undefined;
  /**
   * Why the checkpoints could not be read, when they were not: `stalled` when only a change of
   * resource helps (the pipeline, through whose store Secret they are read, is missing or invalid).
   */
  checkpointsUnreadable?: { message: string; stalled: boolean } | undefined;
  nowMs: number;
  /** Shard pods the scheduler cannot place. */
  unschedulable?: UnschedulablePods | undefined;
  /** Why the API server refuses to create shard pods (the Job's FailedCreate Events). */
  refused?: RefusedPods | undefined;
  /** Shard pods the kubelet cannot run (an image that cannot be pulled, a missing Secret key). */
  failing?: FailingPods | undefined;
  /** The shard container that failed last ("pod p, container c: OOMKilled, exit code 137"). */
  lastShardFailure?: string | undefined;
  /** How many shard pods exist (not being deleted); undefined when not read. */
  shardPods?: number | undefined;
  /** Shard pods that failed or that their node stopped, retried or replaced by the Job. */
  retries?: ShardRetries | undefined;
  /** A Secret (or key) the Job's shard pods read that is missing now, naming the field (shard-secrets.ts). */
  secretMissing?: MissingSecretReference | undefined;
}

/** The status fields a reconcile writes, and the conditions. */
export interface RunDecision {
  status: Pick<BootstrapRunStatus, "phase" | "progress" | "jobName" | "startTime" | "completionTime">;
  standing: Kstatus;
  conditions: ConditionInput[];
}

/** True once the run's status records a final phase; a finished run is immutable. */
export function isFinished(run: BootstrapRun): boolean {
  return run.status?.phase === "Succeeded" || run.status?.phase === "Failed";
}

/**
 * The status of a finished run after its spec was edited (suspend or a time limit: the rest is
 * immutable): unchanged but for the generation it describes, since no edit changes a finished
 * result. Without it observedGeneration would lag for good, which kstatus and the Argo CD health
 * check read as "the operator has not seen this spec yet". Undefined when nothing is to change.
 */
export function acknowledgedStatus(
  status: BootstrapRunStatus | undefined,
  generation: number | undefined,
): BootstrapRunStatus | undefined {
  if (status === undefined || generation === undefined || status.observedGeneration === generation)
    return undefined;
  return {
    ...status,
    observedGeneration: generation,
    ...(status.conditions !== undefined
      ? {
          conditions: status.conditions.map((condition) => ({
            ...condition,
            observedGeneration: generation,
          })),
        }
      : {}),
  };
}

function jobCondition(job: V1Job | undefined, type: string): V1JobCondition | undefined {
  return job?.status?.conditions?.find((condition) => condition.type === type && condition.status === "True");
}

function isoTime(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return new Date(value).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The phase the Job's lifecycle says, before the checkpoints are looked at. */
function jobPhase(observation: RunObservation): BootstrapPhase {
  const { run, job } = observation;
  if (jobCondition(job, "Complete")) return "Succeeded";
  if (jobCondition(job, "Failed")) return "Failed";
  if (run.spec.suspend || jobCondition(job, "Suspended")) return "Suspended";
  if (job === undefined) return "Pending";
  const started =
    (job.status?.active ?? 0) > 0 || (observation.checkpoints ?? []).some((state) => state !== null);
  return started ? "Running" : "Pending";
}

/** Decides the run's status; call only for runs that are not finished. */
export function runStatus(observation: RunObservation): RunDecision {
  const { run, job, checkpoints, nowMs } = observation;
  const source = run.spec.source.files !== undefined ? "files" : "kafka";
  let phase = jobPhase(observation);
  const progress = checkpoints === undefined ? undefined : runProgress(checkpoints, source);
  // Final counts are recorded once, so a success waits until the checkpoints could be read.
  if (phase === "Succeeded" && progress === undefined) phase = "Running";
  const failed = jobCondition(job, "Failed");
  let failure =
    failed === undefined
      ? undefined
      : {
          reason: failed.reason ?? "JobFailed",
          // The Job says only "reached the specified backoff limit"; its pods say what the shards died of.
          message: [
            failed.message ?? "",
            ...(observation.lastShardFailure !== undefined
              ? [`last failed shard: ${observation.lastShardFailure}`]
              : []),
            // The Job says only "Job was active longer than specified deadline", and its controller
            // deleted the pods: what held them back is read from them or the run's last status.
            ...(failed.reason === "DeadlineExceeded"
              ? [(heldBack(observation) ?? heldBackBefore(run))?.why.join("; ")].flatMap((why) =>
                  why === undefined ? [] : [`the shards were held back: ${why}`],
                )
              : []),
          ]
            .filter((part) => part !== "")
            .join("; "),
        };
  // Every shard exits 0 only once its checkpoint says done; a Job that completed without that (shards
  // that never ran the work, or checkpoints lost) did not fill the version, whatever its exit codes say.
  if (phase === "Succeeded" && progress !== undefined && !progress.allDone) {
    const unfinished = checkpoints!.flatMap((state, index) => (state?.phase === "done" ? [] : [index]));
    phase = "Failed";
    failure = {
      reason: "ShardsIncomplete",
      message: `the Job completed, but shard(s) ${unfinished.join(", ")} have no finished checkpoint in the store`,
    };
  }
  // Every record read failed (files that are not JSON Lines, a keyPath that matches nothing): the
  // shards finished, but the version holds nothing of the source, which "Succeeded" would hide.
  const read = progress?.progress.processed ?? 0;
  if (phase === "Succeeded" && read > 0 && progress?.progress.failed === read) {
    phase = "Failed";
    failure = {
      reason: "NoRecordWritten",
      message: `every one of the ${read} records read failed, so nothing was written; each shard logs "record not written" with its code (e.g. INVALID_JSON for a file that is not JSON Lines, MISSING_ID for a keyPath that matches nothing)`,
    };
  }
  const startTime =
    run.status?.startTime ?? isoTime(job?.status?.startTime) ?? (job ? isoTime(new Date(nowMs)) : undefined);
  const completionTime =
    phase === "Succeeded"
      ? (isoTime(job?.status?.completionTime) ?? isoTime(new Date(nowMs)))
      : phase === "Failed"
        ? (isoTime(failed?.lastTransitionTime ?? job?.status?.completionTime) ?? isoTime(new Date(nowMs)))
        : undefined;
  const counts = progress?.progress ?? run.status?.progress;
  const unreadable = observation.checkpointsUnreadable;
  // A completed Job whose checkpoints cannot be read is neither done nor running: say what blocks it.
  const standing = withSecretMissing(
    jobCondition(job, "Complete") !== undefined && progress === undefined && unreadable !== undefined
      ? ({
          state: unreadable.stalled ? "Stalled" : "Reconciling",
          reason: "CheckpointsUnreadable",
          message: `the Job completed, but its shards' checkpoints cannot be read to confirm they finished: ${unreadable.message}; the run finishes once they can be read`,
        } as const)
      : waitingForPods(
          withRetries(
            phase === "Running" && progress === undefined && unreadable !== undefined
              ? {
                  // The counts are the last status's: an ETA from them would only grow, saying nothing.
                  state: "Reconciling",
                  reason: "Running",
                  message: `${counts === undefined ? "no progress read yet" : `${describeCounts(counts)} as last read`}: the shards' checkpoints cannot be read now: ${unreadable.message}`,
                }
              : standingOf(phase, counts, failure, startTime, nowMs, checkpoints),
            observation,
          ),
          heldBack(observation),
        ),
    observation,
  );
  return {
    status: {
      phase,
      ...(counts !== undefined ? { progress: counts } : {}),
      ...(job?.metadata?.name !== undefined ? { jobName: job.metadata.name } : {}),
      ...(startTime !== undefined ? { startTime } : {}),
      ...(completionTime !== undefined ? { completionTime } : {}),
    },
    standing,
    conditions: runConditions(phase, standing),
  };
}

/** A run's conditions in `phase`: the kstatus trio from `standing`, then Complete and Failed. */
export function runConditions(phase: BootstrapPhase, standing: Kstatus): ConditionInput[] {
  return [
    ...trioFor(phase, standing),
    {
      type: "Complete",
      status: phase === "Succeeded" ? "True" : "False",
      reason: phase === "Succeeded" ? "Succeeded" : phase,
      message: phase === "Succeeded" ? standing.message : "",
    },
    {
      type: "Failed",
      status: phase === "Failed" ? "True" : "False",
      reason: phase === "Failed" ? standing.reason : phase,
      message: phase === "Failed" ? standing.message : "",
    },
  ];
}

/**
 * The kstatus trio; a suspended run is deliberately paused, so none of the three is True (Ready False
 * with reason Suspended, as Flux reports suspended objects).
 */
function trioFor(phase: BootstrapPhase, verdict: Kstatus): ConditionInput[] {
  const trio = kstatusConditions(verdict);
  return phase === "Suspended" ? trio.map((condition) => ({ ...condition, status: "False" })) : trio;
}

/**
 * What running shards wait on, from their checkpoints (`waiting`, written while a batch keeps being
 * retried, e.g. on an embedding server that fails every call): the shards open no port, so this is how
 * the run tells a shard that waits from one that works.
 */
function shardWaits(checkpoints: readonly (CheckpointState | null)[] | undefined): string[] {
  return (checkpoints ?? []).flatMap((state, index) => {
    const waiting = state?.phase === "running" ? state.waiting : undefined;
    if (waiting === undefined) return [];
    const what = waiting.dependency === "embedding" ? "the embedding server" : waiting.dependency;
    return [
      `shard ${index} waits on ${what} since ${new Date(waiting.sinceMs).toISOString()}: ${waiting.error}`,
    ];
  });
}

function describeCounts(counts: RunDecision["status"]["progress"]): string {
  if (counts === undefined) return "no shard has reported yet";
  const of = counts.total !== undefined ? ` of ${counts.total}` : "";
  return `${counts.percent ?? 0}% (${counts.processed ?? 0}${of} records, ${counts.embedded ?? 0} texts embedded, ${counts.deduplicated ?? 0} deduplicated, ${counts.failed ?? 0} failed)`;
}

/** Shard pods held back, and what the API server, the scheduler or the kubelet says of them. */
interface HeldBack {
  reason: string;
  stalled: boolean;
  why: string[];
}

/**
 * A pending or running run whose shard pods the API server refuses to create says so (reason
 * FailedCreate and the API server's answer: the Job's status does not show it at all, only its
 * Events), and likewise one with shards the scheduler cannot place (reason Unschedulable and the
 * scheduler's message: the Job's own status only counts them as active). Shards the kubelet cannot
 * run (an image that cannot be pulled, a missing Secret key: they wait for ever, counted active) stall
 * it, reason PodFailing with the pod, container and the kubelet's words.
 */
function waitingForPods(standing: Kstatus, held: HeldBack | undefined): Kstatus {
  if (held === undefined || standing.state !== "Reconciling" || standing.reason === "Suspended")
    return standing;
  return {
    state: held.stalled ? "Stalled" : "Reconciling",
    reason: held.reason,
    message: [standing.message, ...held.why].join("; "),
  };
}

/**
 * The shard pods held back now; with no shard pod at all (the Job controller deletes them as it fails
 * the Job at its deadline, before the Job's Failed condition is read; or replaces pods deleted by
 * hand), what the run's last status said of them, which nothing read now contradicts.
 */
function heldBack(observation: RunObservation): HeldBack | undefined {
  const { unschedulable, refused, failing } = observation;
  if (unschedulable !== undefined || refused !== undefined || failing !== undefined)
    return {
      reason:
        failing !== undefined ? podFailingReason : refused !== undefined ? "FailedCreate" : "Unschedulable",
      stalled: failing !== undefined,
      why: [
        ...(refused !== undefined ? [describeRefused(refused)] : []),
        ...(unschedulable !== undefined ? [describeUnschedulable(unschedulable)] : []),
        ...(failing !== undefined ? [describeFailing(failing)] : []),
      ],
    };
  return observation.shardPods === 0 ? heldBackBefore(observation.run) : undefined;
}

/** The Ready reasons of a run whose shard pods are held back (waitingForPods). */
const heldBackReasons = new Set(["Unschedulable", "FailedCreate", podFailingReason]);

/** Where the first description of held-back pods begins in a status message. */
const podCauseStart =
  /(?:^|; )(?:the API server refuses to create its pods|\d+ pods? cannot (?:be scheduled|run) \()/;

/** What the run's last status said of held-back shard pods, if it said so. */
function heldBackBefore(run: BootstrapRun): HeldBack | undefined {
  const ready = findCondition(run.status?.conditions, "Ready");
  if (ready === undefined || !heldBackReasons.has(ready.reason)) return undefined;
  // The message is the standing's (progress, retries, waits), then the pods' descriptions after "; ".
  const start = ready.message.search(podCauseStart);
  if (start < 0) return undefined;
  return {
    reason: ready.reason,
    stalled: ready.reason === podFailingReason,
    why: [ready.message.slice(start).replace(/^; /, "")],
  };
}

/**
 * A run whose Job still runs and whose shards read a Secret (or key) that is missing now is Stalled,
 * reason SecretNotFound (SecretKeyNotFound for a key), as a pipeline and a model with a missing Secret are: its shard pods running go
 * on, but one started from now on cannot start, and only restoring the Secret helps. The Job is left
 * alone and its outcome, once it ends, is reported as ever (a finished Job starts no pod).
 */
function withSecretMissing(standing: Kstatus, observation: RunObservation): Kstatus {
  const missing = observation.secretMissing;
  const job = observation.job;
  if (
    missing === undefined ||
    standing.state !== "Reconciling" ||
    standing.reason === "Suspended" ||
    jobCondition(job, "Complete") !== undefined ||
    jobCondition(job, "Failed") !== undefined
  )
    return standing;
  // The store's Secret is already named as why the checkpoints cannot be read.
  const named = standing.message.includes(missing.message) ? "" : `${missing.message}: `;
  return {
    state: "Stalled",
    reason: missing.reason,
    message: `${standing.message}; ${named}the shard pods running keep what they read of it, but a shard pod started from now on cannot start until it is restored`,
  };
}

/**
 * A pending or running run whose shard pods failed (and were retried) or were stopped by their node
 * (and replaced) says so: reason ShardsRetried while failures count against spec.backoffLimit, the
 * stop named in the message alone otherwise (the shard resumes from its checkpoint).
 */
function withRetries(standing: Kstatus, observation: RunObservation): Kstatus {
  const retries = observation.retries;
  if (retries === undefined || standing.state !== "Reconciling" || standing.reason === "Suspended")
    return standing;
  return {
    ...standing,
    ...(retries.failed > 0 ? { reason: "ShardsRetried" } : {}),
    message: `${standing.message}; ${describeShardRetries(retries, observation.run.spec.backoffLimit)}`,
  };
}

function standingOf(
  phase: BootstrapPhase,
  counts: RunDecision["status"]["progress"],
  failure: { reason: string; message: string } | undefined,
  startTime: string | undefined,
  nowMs: number,
  checkpoints?: readonly (CheckpointState | null)[] | undefined,
): Kstatus {
  switch (phase) {
    case "Succeeded":
      return {
        state: "Ready",
        reason: "Succeeded",
        message: `bootstrap succeeded: ${describeCounts(counts)}`,
      };
    case "Failed":
      return {
        state: "Stalled",
        reason: failure?.reason ?? "JobFailed",
        message: `bootstrap failed${failure?.message ? `: ${failure.message}` : ""}; progress ${describeCounts(counts)}`,
      };
    case "Suspended":
      return {
        state: "Reconciling",
        reason: "Suspended",
        message: `suspended at ${describeCounts(counts)}; set spec.suspend to false to resume`,
      };
    case "Pending":
      return { state: "Reconciling", reason: "Pending", message: "waiting for the shards to start" };
    case "Running": {
      const eta =
        startTime === undefined ? undefined : etaMs(counts?.percent ?? 0, Date.parse(startTime), nowMs);
      const left = eta === undefined ? "" : `; about ${formatDuration(eta)} left`;
      return {
        state: "Reconciling",
        reason: "Running",
        message: [`${describeCounts(counts)}${left}`, ...shardWaits(checkpoints)].join("; "),
      };
    }
  }
}
