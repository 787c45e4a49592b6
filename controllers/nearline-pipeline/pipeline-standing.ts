// Where a NearlinePipeline stands (kstatus): Stalled for a cause a person must fix (a version without a
// model digest among them), Reconciling while a version waits for its bootstrap's offsets or its
// workers roll out (reason FailedCreate while the API server refuses to create some of them,
// Unschedulable while the scheduler cannot place some), Stalled PodFailing while the kubelet cannot run
// some (an image that cannot be pulled, a crash loop, a missing Secret key), Stalled
// ProgressDeadlineExceeded once some workers have not become ready within their Deployment's progress
// deadline (600 s by default: a pod Pending for lack of capacity, a probe that never passes), Stalled
// DependencyUnavailable while a worker (its batch, its start, or calls to a hung broker) has waited on
// its store, embedding server or Kafka for a minute, Ready when every live version runs.
import type { Kstatus } from "../shared/conditions.ts";
import { podFailingReason } from "../shared/failing-pods.ts";
import { describeDeadline, describeNotReadyPod } from "../shared/progress-deadline.ts";
import type { ResolvedVersions } from "./live-versions.ts";
import type { WorkerWait } from "./worker-figures.ts";
import type { Rollout } from "./worker-rollout.ts";
import { headOf } from "../shared/text.ts";

/**
 * How long a worker's batch may wait on a dependency before the pipeline says it is not making
 * progress; as long as a failing reconcile takes to turn the object Stalled (ReconcileError). Shorter
 * waits are a dependency's restart, which the worker rides out on its own.
 */
export const dependencyWaitStalledSeconds = 60;

/** The reason of a pipeline whose workers did not become ready within their progress deadline. */
export const progressDeadlineExceededReason = "ProgressDeadlineExceeded";

const dependencyNames: Readonly<Record<string, string>> = {
  store: "store",
  embedding: "embedding server",
  kafka: "Kafka",
};

/**
 * The pipeline's standing from its stall cause, its resolved versions, their worker rollouts and what
 * their workers wait on (version -> one entry per running worker, ready or not: the wait it reported,
 * undefined for none).
 */
export function pipelineStanding(
  stallCause: Kstatus | undefined,
  resolved: ResolvedVersions,
  rollouts: ReadonlyMap<string, Rollout>,
  waits: ReadonlyMap<string, readonly (WorkerWait | undefined)[]> = new Map(),
): Kstatus {
  if (stallCause !== undefined) return stallCause;
  const stuck = resolved.waiting.find((entry) => entry.stallReason !== undefined);
  if (stuck !== undefined) return { state: "Stalled", reason: stuck.stallReason!, message: stuck.reason };
  const waiting = resolved.waiting[0];
  if (waiting !== undefined)
    return { state: "Reconciling", reason: "WaitingForModel", message: waiting.reason };
  // The model's records name no version with workers yet (its promotion has not started them): no
  // worker runs, so the pipeline is not Ready, however vacuously "every live version" would hold.
  if (resolved.versions.length === 0)
    return {
      state: "Reconciling",
      reason: "WaitingForModel",
      message: "the model's promotion has not started workers for any version yet",
    };
  // The worker's probes stay green (restarting it would not bring the dependency back), so this is
  // where a worker stuck on its store, embedding server or Kafka shows: not making progress, and on
  // what. Its batch in hand, its start or a call to a hung broker: a wait need not be a batch's.
  // Out of every running worker, not the ready ones: a worker whose start waits is not ready, and
  // "1 of 1" beside a second worker consuming would hide that one.
  const waitingWorkers = resolved.versions.flatMap((version) => {
    const workers = waits.get(version.version) ?? [];
    const long = workers.filter(
      (wait): wait is WorkerWait => wait !== undefined && wait.seconds >= dependencyWaitStalledSeconds,
    );
    if (long.length === 0) return [];
    const longest = long.reduce((a, b) => (b.seconds > a.seconds ? b : a));
    return [
      `version ${version.version}: ${long.length} of ${workers.length} workers have waited ${longest.seconds} s on the ${dependencyNames[longest.dependency] ?? longest.dependency} (${headOf(longest.error, 200)}); nothing is lost, and they go on once it answers`,
    ];
  });
  if (waitingWorkers.length > 0)
    return { state: "Stalled", reason: "DependencyUnavailable", message: waitingWorkers.join("; ") };
  const pending = resolved.versions
    .map((version) => ({ version: version.version, rollout: rollouts.get(version.version) }))
    .filter((entry) => entry.rollout?.done !== true);
  const describePending = () =>
    pending
      .map((entry) => `version ${entry.version}: ${entry.rollout?.message ?? "not created yet"}`)
      .join("; ");
  // Waiting does not cure these: a person fixes the image, the pull Secret, the Secret or the limits.
  if (pending.some((entry) => entry.rollout?.failing !== undefined))
    return { state: "Stalled", reason: podFailingReason, message: describePending() };
  // Waited long enough: whatever holds them (capacity, a probe, a dependency at start) needs a look.
  const overdue = pending.flatMap((entry) => {
    const progress = entry.rollout?.notProgressing;
    if (progress === undefined) return [];
    const pod = describeNotReadyPod(progress);
    return [
      `version ${entry.version}: the workers did not become ready within ${describeDeadline(progress)}: ${entry.rollout!.message}${pod === "" ? "" : `; ${pod}`}`,
    ];
  });
  if (overdue.length > 0)
    return { state: "Stalled", reason: progressDeadlineExceededReason, message: overdue.join("; ") };
  if (pending.length > 0)
    return {
      state: "Reconciling",
      reason: pending.some((entry) => entry.rollout?.refused !== undefined)
        ? "FailedCreate"
        : pending.some((entry) => entry.rollout?.unschedulable !== undefined)
          ? "Unschedulable"
          : "RollingOut",
      message: describePending(),
    };
  const summary = resolved.versions
    .map((version) => `${version.version} (${rollouts.get(version.version)?.readyReplicas ?? 0} ready)`)
    .join(", ");
  return { state: "Ready", reason: "WorkersReady", message: `workers of every live version run: ${summary}` };
}
