// Whether a Deployment's pods have had their time to become ready: its progress deadline
// (spec.progressDeadlineSeconds, Kubernetes' default 600 s) passed without them. The Deployment
// controller says so itself only for a rollout under way (Progressing=False, reason
// ProgressDeadlineExceeded): once a rollout completed, a pod that turns unready later, or its
// replacement that stays Pending for lack of capacity, is never timed out, and the Deployment stays
// "available: False" for ever. So the pods are read too: a pod of the current template that has not
// been ready for longer than the deadline (since its Ready condition turned False, or since it was
// created when it never had one: a pod not scheduled yet) counts as well. Only stable facts (names,
// times), so a status that keeps saying the same thing is not rewritten at each reconcile. Pure; used
// for nearline workers and serving pods alike (the pods' own reasons are named by ./unready-pods.ts,
// ./unschedulable-pods.ts and ./failing-pods.ts).

/** Kubernetes' default spec.progressDeadlineSeconds of a Deployment. */
export const defaultProgressDeadlineSeconds = 600;

/** What is read of the Deployment (the cache keeps its spec but the pod template's, and its status). */
export interface DeploymentProgressView {
  metadata?: { name?: string; generation?: number };
  spec?: { progressDeadlineSeconds?: number };
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status?: string; reason?: string }[];
  };
}

/** What is read of a pod (the cache keeps metadata and status). */
export interface PodReadinessView {
  metadata?: { name?: string; creationTimestamp?: Date | string; deletionTimestamp?: unknown };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: Date | string }[];
  };
}

/** A Deployment whose pods did not become ready within its progress deadline. */
export interface NotProgressing {
  /** The Deployment's name. */
  deployment: string;
  /** The Deployment's spec.progressDeadlineSeconds. */
  deadlineSeconds: number;
  /** The Deployment controller reports ProgressDeadlineExceeded for its rollout. */
  timedOut: boolean;
  /** The first pod not ready for longer than the deadline, and since when (ISO, to the second). */
  pod?: { name: string; since: string };
}

/**
 * Whether `deployment` is past its progress deadline: its controller says so for the current spec, or
 * one of `pods` (those of its current template) has not been ready for longer than the deadline.
 * Undefined when neither (or the Deployment is not created yet).
 */
export function notProgressing(
  deployment: DeploymentProgressView | undefined,
  pods: readonly PodReadinessView[],
  nowMs = Date.now(),
): NotProgressing | undefined {
  if (deployment === undefined) return undefined;
  const deadlineSeconds = deployment.spec?.progressDeadlineSeconds ?? defaultProgressDeadlineSeconds;
  const observed = (deployment.status?.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
  const timedOut =
    observed &&
    (deployment.status?.conditions ?? []).some(
      (condition) => condition.type === "Progressing" && condition.reason === "ProgressDeadlineExceeded",
    );
  const pod = pods
    .flatMap((entry) => {
      const since = notReadySinceMs(entry);
      return since !== undefined && nowMs - since > deadlineSeconds * 1000
        ? [{ name: entry.metadata?.name ?? "?", since }]
        : [];
    })
    .sort((left, right) => left.since - right.since)[0];
  if (!timedOut && pod === undefined) return undefined;
  return {
    deployment: deployment.metadata?.name ?? "?",
    deadlineSeconds,
    timedOut,
    ...(pod !== undefined ? { pod: { name: pod.name, since: isoSeconds(pod.since) } } : {}),
  };
}

/** "... within the progress deadline of Deployment d (600 s)", for status messages. */
export function describeDeadline(progress: NotProgressing): string {
  return `the progress deadline of Deployment ${progress.deployment} (${progress.deadlineSeconds} s)`;
}

/** "pod p not ready since 2026-...Z", or "" when the Deployment controller's verdict alone counts. */
export function describeNotReadyPod(progress: NotProgressing): string {
  return progress.pod === undefined ? "" : `pod ${progress.pod.name} not ready since ${progress.pod.since}`;
}

/**
 * Since when a live pod (not being deleted, not ended) has not been ready: when its Ready condition
 * turned False (or Unknown), or its creation when it has no Ready condition yet; undefined when ready.
 */
function notReadySinceMs(pod: PodReadinessView): number | undefined {
  if (pod.metadata?.deletionTimestamp !== undefined) return undefined;
  if (pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded") return undefined;
  const ready = pod.status?.conditions?.find((condition) => condition.type === "Ready");
  if (ready?.status === "True") return undefined;
  const since = timeMs(ready?.lastTransitionTime ?? pod.metadata?.creationTimestamp);
  return since === 0 ? undefined : since;
}

/** Since when a pod has been ready (its Ready condition turned True); undefined when not ready or unknown. */
export function readySinceMs(pod: PodReadinessView): number | undefined {
  const ready = pod.status?.conditions?.find((condition) => condition.type === "Ready");
  if (ready?.status !== "True") return undefined;
  const since = timeMs(ready.lastTransitionTime);
  return since === 0 ? undefined : since;
}

function timeMs(value: Date | string | undefined): number {
  const at = value === undefined ? Number.NaN : new Date(value).getTime();
  return Number.isNaN(at) ? 0 : at;
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
