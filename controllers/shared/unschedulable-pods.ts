// Pods the scheduler has tried and failed to place (no free GPU or CPU, no node matching the selector
// or tolerations), read from their PodScheduled condition, so a status can say why its workloads do not
// start instead of a bare "not ready". Waiting may cure it (a node added by the cluster autoscaler, a
// GPU freed), so it is a reason to show, not a failure. Pure; used for serving pods, nearline workers
// and bootstrap shards alike.
import type { V1PodCondition } from "@kubernetes/client-node";

/** What the check reads of a pod (the cache keeps metadata and status). */
export interface PodConditionsView {
  metadata?: { name?: string; deletionTimestamp?: unknown };
  status?: { conditions?: V1PodCondition[] };
}

/** Pods the scheduler has tried and failed to place. */
export interface UnschedulablePods {
  /** How many (not being deleted). */
  pods: number;
  /** The first of them, for the message. */
  firstPod: string;
  /** The scheduler's reason for that pod ("0/7 nodes are available: 2 Insufficient nvidia.com/gpu, ..."). */
  message: string;
}

/**
 * The pods whose PodScheduled condition is False with reason Unschedulable, the scheduler's verdict
 * after a try (a pod not tried yet has no such condition).
 */
export function unschedulablePods(pods: readonly PodConditionsView[]): UnschedulablePods | undefined {
  const waiting = pods.flatMap((pod) => {
    if (pod.metadata?.deletionTimestamp !== undefined) return [];
    const scheduled = pod.status?.conditions?.find((condition) => condition.type === "PodScheduled");
    return scheduled?.status === "False" && scheduled.reason === "Unschedulable" ? [{ pod, scheduled }] : [];
  });
  const first = waiting[0];
  if (first === undefined) return undefined;
  return {
    pods: waiting.length,
    firstPod: first.pod.metadata?.name ?? "?",
    message: (first.scheduled.message ?? "no reason given").trim(),
  };
}

/** "1 pod cannot be scheduled (name): reason", for status messages. */
export function describeUnschedulable(unschedulable: UnschedulablePods): string {
  const pods = unschedulable.pods === 1 ? "1 pod cannot" : `${unschedulable.pods} pods cannot`;
  return `${pods} be scheduled (${unschedulable.firstPod}): ${unschedulable.message}`;
}
