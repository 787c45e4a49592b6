// Whether a worker Deployment has rolled out its current template with every replica ready, read
// from the Deployment's own status as the Deployment controller reports it, and, while it has not,
// whether the API server refuses its pods (its ReplicaFailure condition) or the scheduler cannot
// place them or the kubelet cannot run them, and why the others are not ready (from the workers'
// pods, as the serving pods are read: ../shared/unready-pods.ts), and whether its progress deadline
// passed without them (../shared/progress-deadline.ts). Workers a scale-down or a roll removed are not
// in the Deployment's counts (status.replicas counts pods not terminating) but drain for up to their
// grace period, holding their partitions until they leave the group: the rollout waits for them too.
import type { V1Deployment } from "@kubernetes/client-node";
import { describeFailing, type FailingPods } from "../shared/failing-pods.ts";
import { deploymentRefusal, describeRefused, type RefusedPods } from "../shared/refused-pods.ts";
import { describeUnschedulable, type UnschedulablePods } from "../shared/unschedulable-pods.ts";
import { describeUnready, type UnreadyPods } from "../shared/unready-pods.ts";
import type { NotProgressing } from "../shared/progress-deadline.ts";

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
  /** Worker pods the kubelet cannot run (image pull, crash loop, missing Secret key), while not done. */
  failing?: FailingPods;
  /** The workers did not become ready within the Deployment's progress deadline, while not done. */
  notProgressing?: NotProgressing;
}

/**
 * Rollout state of `deployment` (undefined: not created yet); pods the API server refuses to create
 * `unschedulable`, the workers the scheduler cannot place, `failing`, those the kubelet cannot run,
 * and otherwise `unready`, why workers that do not fail are not ready (a restart after one failed exit,
 * a probe that has not passed, a pod its node stopped), are named in the message of a rollout that is
 * not done. `notProgressing` (../shared/progress-deadline.ts) is kept on a rollout that is not done.
 * `draining` removed workers still draining ({@link drainingPods}) keep a rollout from being done.
 */
export function deploymentRollout(
  deployment: V1Deployment | undefined,
  unschedulable?: UnschedulablePods,
  failing?: FailingPods,
  unready?: UnreadyPods,
  notProgressing?: NotProgressing,
  draining = 0,
): Rollout {
  const plain = withDraining(rolloutOf(deployment), deployment, draining);
  const rollout = plain.done || notProgressing === undefined ? plain : { ...plain, notProgressing };
  const refused = deploymentRefusal(deployment);
  // A failing pod is the cause; what the others wait on would only lengthen the message.
  const notReady = failing === undefined ? unready : undefined;
  if (
    rollout.done ||
    (unschedulable === undefined && refused === undefined && failing === undefined && notReady === undefined)
  )
    return rollout;
  const why = [
    ...(refused !== undefined ? [describeRefused(refused)] : []),
    ...(unschedulable !== undefined ? [describeUnschedulable(unschedulable)] : []),
    ...(failing !== undefined ? [describeFailing(failing)] : []),
    ...(notReady !== undefined ? [describeUnready(notReady)] : []),
  ];
  return {
    ...rollout,
    message: [rollout.message, ...why].join("; "),
    ...(unschedulable !== undefined ? { unschedulable } : {}),
    ...(refused !== undefined ? { refused } : {}),
    ...(failing !== undefined ? { failing } : {}),
  };
}

/** What a pod's deletion shows of it. */
export interface DeletedPodView {
  metadata?: { deletionTimestamp?: Date | string };
}

/**
 * Pods deleted whose grace period has not run out at `now` (their deletionTimestamp, the time of the
 * deletion plus the grace period, is still ahead): workers draining. One past it is not waited for:
 * its node is gone or not answering, and only a forced deletion removes it.
 */
export function drainingPods(pods: readonly DeletedPodView[], now: number): number {
  return pods.filter((pod) => {
    const deletion = pod.metadata?.deletionTimestamp;
    return deletion !== undefined && new Date(deletion).getTime() > now;
  }).length;
}

/** A rollout otherwise done that still has removed workers draining is not done. */
function withDraining(rollout: Rollout, deployment: V1Deployment | undefined, draining: number): Rollout {
  if (!rollout.done || draining === 0) return rollout;
  const name = deployment?.metadata?.name ?? "";
  return {
    ...rollout,
    done: false,
    message: `Deployment ${name}: ${draining} removed ${draining === 1 ? "worker" : "workers"} draining`,
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
