// Whether a worker Deployment has rolled out its current template with every replica ready, read
// from the Deployment's own status as the Deployment controller reports it, and, while it has not,
// whether the API server refuses its pods (its ReplicaFailure condition) or the scheduler cannot
// place them (from the workers' pods).
import type { V1Deployment } from "@kubernetes/client-node";
import { deploymentRefusal, describeRefused, type RefusedPods } from "../shared/refused-pods.ts";
import { describeUnschedulable, type UnschedulablePods } from "../shared/unschedulable-pods.ts";

/** Rollout state of one Deployment. */
export interface Rollout {
  done: boolean;
  readyReplicas: number;
  /** Why it is not done yet; empty when done. */
  message: string;
  /** Worker pods the scheduler cannot place, while not done. */
  unschedulable?: UnschedulablePods;
  /** Why the API server refuses to create worker pods, while not done. */
  refused?: RefusedPods;
}

/**
 * Rollout state of `deployment` (undefined: not created yet); pods the API server refuses to create
 * and `unschedulable`, the workers the scheduler cannot place, are named in the message of a rollout
 * that is not done.
 */
export function deploymentRollout(
  deployment: V1Deployment | undefined,
  unschedulable?: UnschedulablePods,
): Rollout {
  const rollout = rolloutOf(deployment);
  const refused = deploymentRefusal(deployment);
  if (rollout.done || (unschedulable === undefined && refused === undefined)) return rollout;
  const why = [
    ...(refused !== undefined ? [describeRefused(refused)] : []),
    ...(unschedulable !== undefined ? [describeUnschedulable(unschedulable)] : []),
  ];
  return {
    ...rollout,
    message: [rollout.message, ...why].join("; "),
    ...(unschedulable !== undefined ? { unschedulable } : {}),
    ...(refused !== undefined ? { refused } : {}),
  };
}

function rolloutOf(deployment: V1Deployment | undefined): Rollout {
  if (deployment === undefined) return { done: false, readyReplicas: 0, message: "not created yet" };
  const name = deployment.metadata?.name ?? "";
  const status = deployment.status ?? {};
  const desired = deployment.spec?.replicas ?? 1;
  const ready = status.readyReplicas ?? 0;
  if ((status.observedGeneration ?? 0) < (deployment.metadata?.generation ?? 0))
    return {
      done: false,
      readyReplicas: ready,
      message: `Deployment ${name}: the new spec is not observed yet`,
    };
  if ((status.updatedReplicas ?? 0) < desired)
    return {
      done: false,
      readyReplicas: ready,
      message: `Deployment ${name}: ${status.updatedReplicas ?? 0} of ${desired} workers updated`,
    };
  if (ready < desired || (status.replicas ?? 0) > desired)
    return {
      done: false,
      readyReplicas: ready,
      message: `Deployment ${name}: ${ready} of ${desired} workers ready${(status.replicas ?? 0) > desired ? ", old workers terminating" : ""}`,
    };
  return { done: true, readyReplicas: ready, message: "" };
}
