// Decisions about one version's serving Deployment, from what the cache shows: is it rolled out and
// ready, still rolling out, or stuck. Pure; the inputs are plain numbers so tables can test them.
import { deploymentRefusal, describeRefused, type RefusedPods } from "../shared/refused-pods.ts";
import { describeFailing, podFailingReason, type FailingPods } from "../shared/failing-pods.ts";
import { describeUnschedulable, type UnschedulablePods } from "../shared/unschedulable-pods.ts";
import { describeUnready, type UnreadyPods } from "../shared/unready-pods.ts";
import type { ServingPodFailure } from "./serving-pods.ts";

/** What the decision needs from a Deployment (absent: not created or not yet in the cache). */
export interface DeploymentObservation {
  generation: number;
  observedGeneration: number;
  /** spec.replicas as the API server holds it (set by us or by the HPA). */
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  /**
   * The Progressing condition says ProgressDeadlineExceeded, or a pod has not been ready for longer
   * than the deadline (../shared/progress-deadline.ts: Kubernetes never times out a rollout it once
   * completed).
   */
  progressDeadlineExceeded: boolean;
  /** "pod p not ready since t": the pod past the deadline, when a pod says so. */
  notReadyPod?: string | undefined;
  /** The ReplicaFailure condition: the API server refuses to create pods (quota, admission). */
  refused?: RefusedPods | undefined;
}

/** Where a version's serving stands. */
export interface ServingState {
  state: "Ready" | "Reconciling" | "Stalled";
  reason: string;
  message: string;
  readyReplicas: number;
  /**
   * The spec's version cannot be rendered until a referenced Secret or claim exists (blockers.ts): a
   * wait within the promotion's deadline for a candidate, Stalled at once for the live version.
   */
  blocked?: true;
}

/** Reads the fields of a Deployment object the decision uses. */
export function observeDeployment(
  deployment: Record<string, unknown> | undefined,
): DeploymentObservation | undefined {
  if (deployment === undefined) return undefined;
  const metadata = (deployment.metadata ?? {}) as { generation?: number };
  const spec = (deployment.spec ?? {}) as { replicas?: number };
  const status = (deployment.status ?? {}) as {
    observedGeneration?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status?: string; reason?: string; message?: string }[];
  };
  const refused = deploymentRefusal({ status });
  return {
    generation: metadata.generation ?? 0,
    observedGeneration: status.observedGeneration ?? 0,
    replicas: spec.replicas ?? 1,
    updatedReplicas: status.updatedReplicas ?? 0,
    readyReplicas: status.readyReplicas ?? 0,
    availableReplicas: status.availableReplicas ?? 0,
    progressDeadlineExceeded: (status.conditions ?? []).some(
      (condition) => condition.type === "Progressing" && condition.reason === "ProgressDeadlineExceeded",
    ),
    ...(refused !== undefined ? { refused } : {}),
  };
}

/**
 * The serving state of a version from its Deployment. With autoscaling, `minReplicas` counts too: the
 * Deployment starts at one replica until the HPA raises it, and the version is not Ready below the floor.
 * A certain failure of its pods (`podFailure`) stalls a version that is not Ready at once. Pods the
 * scheduler cannot place (`unschedulable`) name the scheduler's reason in a version that is not Ready:
 * the reason Unschedulable while it rolls out, and in the message once the progress deadline passed;
 * pods the API server refuses to create (the Deployment's ReplicaFailure) likewise, reason FailedCreate.
 * Pods the kubelet cannot run (`failing`: an image that cannot be pulled, a crash loop, a missing
 * Secret key) stall a version that is not Ready at once, reason PodFailing with the pod, container and
 * the kubelet's words: its Deployment would say only ProgressDeadlineExceeded, ten minutes later.
 * Pods that do not fail but are not ready (`unready`: a probe that has not passed, a single crash the
 * pod was restarted after, a pod its node evicted) are named in the message of a version rolling out
 * or past its progress deadline, without changing its state.
 */
export function servingState(
  deployment: DeploymentObservation | undefined,
  minReplicas = 0,
  podFailure?: ServingPodFailure,
  unschedulable?: UnschedulablePods,
  failing?: FailingPods,
  unready?: UnreadyPods,
): ServingState {
  const state = deploymentState(deployment, minReplicas, unschedulable, unready);
  if (state.state === "Ready") return state;
  if (podFailure !== undefined)
    return { ...podFailure, state: "Stalled", readyReplicas: state.readyReplicas };
  if (failing === undefined) return state;
  const replicas = Math.max(deployment?.replicas ?? 0, minReplicas);
  return {
    state: "Stalled",
    reason: podFailingReason,
    message: `${state.readyReplicas}/${replicas} replicas ready; ${describeFailing(failing)}`,
    readyReplicas: state.readyReplicas,
  };
}

function deploymentState(
  deployment: DeploymentObservation | undefined,
  minReplicas: number,
  unschedulable: UnschedulablePods | undefined,
  unready: UnreadyPods | undefined,
): ServingState {
  if (deployment === undefined)
    return {
      state: "Reconciling",
      reason: "Creating",
      message: "the serving Deployment is being created",
      readyReplicas: 0,
    };
  const { readyReplicas, updatedReplicas, availableReplicas } = deployment;
  const replicas = Math.max(deployment.replicas, minReplicas);
  const counts = `${readyReplicas}/${replicas} replicas ready`;
  const why = [
    ...(deployment.refused !== undefined ? [describeRefused(deployment.refused)] : []),
    ...(unschedulable !== undefined ? [describeUnschedulable(unschedulable)] : []),
    ...(unready !== undefined ? [describeUnready(unready)] : []),
  ].join("; ");
  if (deployment.progressDeadlineExceeded)
    return {
      state: "Stalled",
      reason: "ProgressDeadlineExceeded",
      message: `the serving pods did not become ready within the Deployment's progress deadline (${counts}); ${why === "" ? "see the pods' events" : why}${deployment.notReadyPod === undefined ? "" : `; ${deployment.notReadyPod}`}`,
      readyReplicas,
    };
  if (deployment.observedGeneration < deployment.generation)
    return {
      state: "Reconciling",
      reason: "RollingOut",
      message: `the Deployment controller has not seen the new spec yet (${counts})`,
      readyReplicas,
    };
  if (updatedReplicas < replicas || readyReplicas < replicas || availableReplicas < replicas)
    return {
      state: "Reconciling",
      reason:
        deployment.refused !== undefined
          ? "FailedCreate"
          : unschedulable !== undefined
            ? "Unschedulable"
            : "RollingOut",
      message: `${counts}, ${updatedReplicas}/${replicas} updated${why === "" ? "" : `; ${why}`}`,
      readyReplicas,
    };
  return { state: "Ready", reason: "ServingReady", message: counts, readyReplicas };
}
