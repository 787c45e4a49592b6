// Where a NearlinePipeline stands (kstatus): Stalled for a cause a person must fix (a version without a
// model digest among them), Reconciling while a version waits for its bootstrap's offsets or its
// workers roll out (reason FailedCreate while the API server refuses to create some of them,
// Unschedulable while the scheduler cannot place some), Ready when every live version runs.
import type { Kstatus } from "../shared/conditions.ts";
import type { ResolvedVersions } from "./live-versions.ts";
import type { Rollout } from "./worker-rollout.ts";

/** The pipeline's standing from its stall cause, its resolved versions and their worker rollouts. */
export function pipelineStanding(
  stallCause: Kstatus | undefined,
  resolved: ResolvedVersions,
  rollouts: ReadonlyMap<string, Rollout>,
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
  const pending = resolved.versions
    .map((version) => ({ version: version.version, rollout: rollouts.get(version.version) }))
    .filter((entry) => entry.rollout?.done !== true);
  if (pending.length > 0)
    return {
      state: "Reconciling",
      reason: pending.some((entry) => entry.rollout?.refused !== undefined)
        ? "FailedCreate"
        : pending.some((entry) => entry.rollout?.unschedulable !== undefined)
          ? "Unschedulable"
          : "RollingOut",
      message: pending
        .map((entry) => `version ${entry.version}: ${entry.rollout?.message ?? "not created yet"}`)
        .join("; "),
    };
  const summary = resolved.versions
    .map((version) => `${version.version} (${rollouts.get(version.version)?.readyReplicas ?? 0} ready)`)
    .join(", ");
  return { state: "Ready", reason: "WorkersReady", message: `workers of every live version run: ${summary}` };
}
