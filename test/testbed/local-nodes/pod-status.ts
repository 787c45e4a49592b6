// The Pod status a local node reports: phase, the standard conditions (keeping lastTransitionTime
// while a condition holds) and the container statuses. Pure.
import type { V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from "@kubernetes/client-node";

/** What the pod worker knows about the pod right now. */
export interface PodFacts {
  phase: "Pending" | "Running" | "Succeeded" | "Failed";
  sandboxReady: boolean;
  initialized: boolean;
  containersReady: boolean;
  podIP: string | undefined;
  hostIP: string;
  startTime: Date;
  initContainerStatuses: V1ContainerStatus[];
  containerStatuses: V1ContainerStatus[];
}

/** Condition types this agent owns; others (PodScheduled, DisruptionTarget ...) are kept as they are. */
const owned = ["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"];

/** Builds the status to write, carrying transition times over from `pod.status` when unchanged. */
export function buildPodStatus(pod: V1Pod, facts: PodFacts, now: Date): V1PodStatus {
  const previous = pod.status?.conditions ?? [];
  const condition = (type: string, holds: boolean, reason?: string): V1PodCondition => {
    const status = holds ? "True" : "False";
    const before = previous.find((c) => c.type === type);
    return {
      type,
      status,
      lastTransitionTime: before?.status === status ? before.lastTransitionTime : now,
      ...(holds || reason === undefined ? {} : { reason }),
    };
  };
  const terminal = facts.phase === "Succeeded" || facts.phase === "Failed";
  const ready = facts.containersReady && !terminal;
  const conditions = [
    ...previous.filter((c) => !owned.includes(c.type)),
    condition("PodReadyToStartContainers", facts.sandboxReady),
    condition("Initialized", facts.initialized, "ContainersNotInitialized"),
    condition("ContainersReady", ready, terminal ? "PodCompleted" : "ContainersNotReady"),
    condition("Ready", ready, terminal ? "PodCompleted" : "ContainersNotReady"),
  ];
  return {
    phase: facts.phase,
    conditions,
    hostIP: facts.hostIP,
    hostIPs: [{ ip: facts.hostIP }],
    ...(facts.podIP === undefined ? {} : { podIP: facts.podIP, podIPs: [{ ip: facts.podIP }] }),
    startTime: pod.status?.startTime ?? facts.startTime,
    ...(facts.initContainerStatuses.length > 0 ? { initContainerStatuses: facts.initContainerStatuses } : {}),
    containerStatuses: facts.containerStatuses,
    ...(pod.status?.qosClass === undefined ? {} : { qosClass: pod.status.qosClass }),
  };
}

/** JSON for the API: dates as RFC 3339 without fractions, the format metav1.Time writes. */
export function toApiJson(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, function replacer(this: Record<string, unknown>, key: string, raw: unknown) {
      const original = this[key];
      if (original instanceof Date) return original.toISOString().replace(/\.\d+Z$/, "Z");
      return raw;
    }),
  );
}

/**
 * True when the pod's status in the API no longer says what this agent reports: its phase, or the
 * status of a condition the agent owns. Someone else wrote it — the node lifecycle controller marks
 * the pods of a node that stopped heartbeating Ready=False — and, as the kubelet's status manager
 * does, the agent writes its own view again (otherwise a pod stays not ready after its node is back).
 */
export function statusDrifted(pod: V1Pod, ours: V1PodStatus): boolean {
  const phase = pod.status?.phase;
  // The API server refuses to move a pod out of a terminal phase: no point writing again.
  if (phase === "Succeeded" || phase === "Failed") return false;
  if (phase !== ours.phase) return true;
  const theirs = pod.status?.conditions ?? [];
  return (ours.conditions ?? [])
    .filter((condition) => owned.includes(condition.type))
    .some((condition) => theirs.find((c) => c.type === condition.type)?.status !== condition.status);
}
