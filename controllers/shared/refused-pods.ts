// Pods the API server refuses to create for a workload: a ResourceQuota exceeded or requiring limits, a
// LimitRange maximum, Pod Security admission, a missing ServiceAccount or PriorityClass, a webhook.
// Such pods never exist, so nothing on a pod says why; Kubernetes reports it only on the workload's
// controller: a Deployment's ReplicaFailure condition (copied from its ReplicaSet), and for a Job
// nothing but FailedCreate Events. Read from there so a status can say why its workloads do not start
// instead of a bare "0 of 2 ready" or "waiting for the shards to start". The controllers keep retrying,
// so fixing the namespace or the spec cures it: a reason to show, like an unschedulable pod. Pure.

/** Why the API server refuses a workload's pods, in its own words. */
export interface RefusedPods {
  /** The API server's answer, e.g. `pods "x" is forbidden: exceeded quota: compute, requested: ...`. */
  message: string;
}

/** What the check reads of a Deployment (the cache keeps its status). */
export interface DeploymentConditionsView {
  status?: { conditions?: { type?: string; status?: string; reason?: string; message?: string }[] };
}

/** The ReplicaFailure condition of a Deployment, set while its ReplicaSet cannot create pods. */
export function deploymentRefusal(deployment: DeploymentConditionsView | undefined): RefusedPods | undefined {
  const failure = deployment?.status?.conditions?.find(
    (condition) => condition.type === "ReplicaFailure" && condition.status === "True",
  );
  if (failure === undefined) return undefined;
  return { message: apiAnswer(failure.message ?? failure.reason ?? "no reason given") };
}

/** What the check reads of a core v1 Event (involvedObject already selected by the caller). */
export interface EventView {
  reason?: string;
  message?: string;
  lastTimestamp?: Date | string | null;
  eventTime?: Date | string | null;
  series?: { lastObservedTime?: Date | string | null } | null;
  metadata?: { creationTimestamp?: Date | string };
}

/** What the check reads of one of the Job's pods. */
export interface CreatedPodView {
  metadata?: { creationTimestamp?: Date | string };
}

/**
 * The Job controller's latest FailedCreate Event on a Job, unless a pod of that Job was created after
 * it (the refusal ended: the quota was raised, the PriorityClass created). Events are rate limited and
 * aggregated by the recorder, so an ongoing refusal may show an Event minutes old: age alone says
 * nothing, a later pod does.
 */
export function jobRefusal(
  events: readonly EventView[],
  pods: readonly CreatedPodView[],
): RefusedPods | undefined {
  const refusals = events
    .filter((event) => event.reason === "FailedCreate")
    .map((event) => ({ event, at: eventTimeMs(event) }))
    .sort((left, right) => right.at - left.at);
  const latest = refusals[0];
  if (latest === undefined) return undefined;
  const newestPod = Math.max(
    -Infinity,
    ...pods.map((pod) => timeMs(pod.metadata?.creationTimestamp) ?? -Infinity),
  );
  if (newestPod >= latest.at) return undefined;
  return { message: apiAnswer(latest.event.message ?? "no reason given") };
}

/** "the API server refuses to create its pods: <answer>", for status messages. */
export function describeRefused(refused: RefusedPods): string {
  return `the API server refuses to create its pods (fix the namespace's quota or policy, or the resource's spec): ${refused.message}`;
}

/** The API server's answer without the recorder's wrapping ("(combined from similar events): Error creating: "). */
function apiAnswer(message: string): string {
  return message
    .trim()
    .replace(/^\(combined from similar events\):\s*/, "")
    .replace(/^Error creating:\s*/, "");
}

/** When the Event last happened (series, lastTimestamp, eventTime, creation), 0 when none says. */
export function eventTimeMs(event: EventView): number {
  return (
    timeMs(event.series?.lastObservedTime) ??
    timeMs(event.lastTimestamp) ??
    timeMs(event.eventTime) ??
    timeMs(event.metadata?.creationTimestamp) ??
    0
  );
}

function timeMs(value: Date | string | null | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}
