// Whether a worker Deployment has rolled out its current template with every replica ready, read
// from the Deployment's own status as the Deployment controller reports it.
import type { V1Deployment } from "@kubernetes/client-node";

/** Rollout state of one Deployment. */
export interface Rollout {
  done: boolean;
  readyReplicas: number;
  /** Why it is not done yet; empty when done. */
  message: string;
}

/** Rollout state of `deployment` (undefined: not created yet). */
export function deploymentRollout(deployment: V1Deployment | undefined): Rollout {
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
