// Pods placed on a node whose containers the kubelet cannot start or keep running: the image cannot be
// pulled (ErrImagePull, ImagePullBackOff, InvalidImageName: a wrong tag, a private registry without a
// pull Secret), the container cannot be created (CreateContainerConfigError: a Secret or key its env
// names is missing; CreateContainerError, RunContainerError), or it keeps exiting (CrashLoopBackOff,
// with the last exit: OOMKilled, an exit code). The kubelet says so only on the pod, as a container's
// waiting reason; a Deployment just counts the pod unavailable until its progress deadline (10 minutes
// by default), and a Job counts it active for ever. Read from the pods so a status says which pod,
// which container and the kubelet's own words, seconds after it happens. Every waiting reason but the
// two of a start under way counts, so a runtime's own reasons (the testbed's local nodes say
// ErrImageNotRunnableLocally) are named too. One failed exit is not a crash loop: the kubelet restarts
// a first failure at once and backs off (CrashLoopBackOff) only when a restarted container fails again
// within 10 minutes of its start, and so does this check. Counting one crash turned a candidate Failed
// (a Warning Event, a Stalled object for alerts and Argo CD) for a pod that ran on seconds later; a
// crash the pod recovers from is named in a status that is not Ready (./unready-pods.ts), as a fact.
// Pure; used for serving pods, nearline workers and bootstrap shards alike.
import type { V1ContainerStatus } from "@kubernetes/client-node";
import { terminationSummary } from "./termination-message.ts";

/** The reason every resource's Stalled condition gives for failing pods. */
export const podFailingReason = "PodFailing";

/** What the check reads of a pod (the cache keeps metadata and status). */
export interface PodContainersView {
  metadata?: { name?: string; deletionTimestamp?: unknown };
  status?: {
    /** Failed or Succeeded: the pod has ended (evicted, say) and nothing in it restarts. */
    phase?: string;
    /** When the kubelet took the pod up (its volumes and sandbox are set up after). */
    startTime?: Date | string;
    initContainerStatuses?: V1ContainerStatus[];
    containerStatuses?: V1ContainerStatus[];
  };
}

/** Pods with a container the kubelet cannot start or keep running. */
export interface FailingPods {
  /** How many (not being deleted). */
  pods: number;
  /** The first of them, for the message. */
  firstPod: string;
  /** Its failing container ("init container fetch-model" or "container serve"). */
  container: string;
  /** The kubelet's waiting reason, e.g. ImagePullBackOff. */
  reason: string;
  /** The kubelet's message, and for a crash loop the last exit (OOMKilled, exit code 137). */
  message: string;
}

/** Waiting reasons of a container whose start is under way, not failing. */
const starting = new Set(["ContainerCreating", "PodInitializing"]);

/**
 * How long a container restarted after a failed exit may run without becoming ready and still count
 * as crash-looping: the kubelet's own reset of its restart back-off (twice the 5-minute maximum).
 */
export const crashLoopResetMs = 10 * 60_000;

/**
 * How long a pod taken up by its kubelet may have no container started before it counts as failing. A
 * volume that cannot mount (a Secret or ConfigMap gone, a claim attached elsewhere, a CSI driver that
 * fails) or a sandbox the runtime cannot create leaves every container waiting ContainerCreating (or
 * PodInitializing) with the cause only in the pod's Events; the kubelet gives up a mount after about
 * two minutes and tries again. Past this the status says so, not only a Deployment's progress deadline.
 * Five minutes, not less: a first pull of a large image (the CUDA one, several GB) waits the same way
 * and would be reported as a failure while it is only slow.
 */
export const stuckStartMs = 5 * 60_000;

/**
 * The pods (not being deleted, not ended) with a container waiting for a reason other than a start
 * under way, or in a crash loop and started again, not ready yet. A crash loop is both by turns
 * (back-off, then a run until the next crash); counting only the waiting turned the status Reconciling
 * at every restart and Stalled again at the next crash, for as long as the loop went on. Also pods with
 * no container started `stuckStartMs` after their kubelet took them up. A pod that has ended (phase
 * Failed: evicted, shut down with its node) is replaced, not restarted: ./unready-pods.ts names it.
 */
export function failingPods(pods: readonly PodContainersView[], nowMs = Date.now()): FailingPods | undefined {
  const failing = pods.flatMap((pod) => {
    if (pod.metadata?.deletionTimestamp !== undefined || podEnded(pod)) return [];
    const failure = containerFailure(pod, nowMs) ?? stuckStart(pod, nowMs);
    return failure === undefined ? [] : [{ pod, ...failure }];
  });
  const first = failing[0];
  if (first === undefined) return undefined;
  return {
    pods: failing.length,
    firstPod: first.pod.metadata?.name ?? "?",
    container: first.container,
    reason: first.reason,
    message: first.message,
  };
}

function containerFailure(
  pod: PodContainersView,
  nowMs: number,
): { container: string; reason: string; message: string } | undefined {
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []).map((status) => ({ status, kind: "init container" })),
    ...(pod.status?.containerStatuses ?? []).map((status) => ({ status, kind: "container" })),
  ];
  for (const { status, kind } of statuses) {
    const waiting = status.state?.waiting;
    const last = status.lastState?.terminated;
    const exit = last === undefined ? "" : lastExit(status);
    const container = `${kind} ${status.name}`;
    if (waiting?.reason !== undefined && !starting.has(waiting.reason)) {
      const message = [waiting.message?.trim(), exit].filter((part) => part !== undefined && part !== "");
      return { container, reason: waiting.reason, message: message.join("; ") || "no message" };
    }
    if (crashLooping(status, nowMs)) {
      const ended = status.state?.terminated;
      const message =
        ended !== undefined
          ? `ended again; last exit: ${describeExit(ended)}, ${restarts(status.restartCount)}`
          : `started again, not ready yet; ${exit}`;
      return { container, reason: "CrashLoopBackOff", message };
    }
  }
  return undefined;
}

/** The pod has ended (phase Failed or Succeeded): its containers are not restarted any more. */
export function podEnded(pod: PodContainersView): boolean {
  return pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded";
}

/** "last exit: OOMKilled, exit code 137 (summary), 2 restarts" of a container that has a last state. */
export function lastExit(status: V1ContainerStatus): string {
  const last = status.lastState?.terminated;
  return last === undefined ? "" : `last exit: ${describeExit(last)}, ${restarts(status.restartCount)}`;
}

function describeExit(exit: { reason?: string; exitCode: number; message?: string }): string {
  return `${exit.reason ?? "Error"}, exit code ${exit.exitCode}${inParentheses(exit.message)}`;
}

function restarts(count: number): string {
  return count === 1 ? "1 restart" : `${count} restarts`;
}

/** The first container of a pod none of whose containers has started `stuckStartMs` after its start. */
function stuckStart(
  pod: PodContainersView,
  nowMs: number,
): { container: string; reason: string; message: string } | undefined {
  const startTime =
    pod.status?.startTime === undefined ? Number.NaN : new Date(pod.status.startTime).getTime();
  if (Number.isNaN(startTime) || nowMs - startTime < stuckStartMs) return undefined;
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []).map((status) => ({ status, kind: "init container" })),
    ...(pod.status?.containerStatuses ?? []).map((status) => ({ status, kind: "container" })),
  ];
  const started = statuses.some(
    ({ status }) => status.state?.waiting === undefined || status.lastState?.terminated !== undefined,
  );
  const [first] = statuses;
  const waiting = first?.status.state?.waiting;
  if (first === undefined || started || waiting?.reason === undefined) return undefined;
  const name = pod.metadata?.name ?? "?";
  const minutes = Math.floor((nowMs - startTime) / 60_000);
  const cause = `no container started in ${minutes}m (a volume that cannot mount, a sandbox the runtime cannot create, or an image still pulling): kubectl describe pod ${name} shows its events`;
  const message = [waiting.message?.trim(), cause].filter((part) => part !== undefined && part !== "");
  return {
    container: `${first.kind} ${first.status.name}`,
    reason: waiting.reason,
    message: message.join("; "),
  };
}

/**
 * A container in a crash loop that is not up (starting, running not ready, or ended again): its last
 * run ended with a failed exit, was itself a restart, and lasted less than the kubelet's back-off reset
 * (`crashLoopResetMs`), which is when the kubelet backs off instead of restarting at once. A first
 * failure, or the first after a run of 10 minutes, is restarted at once and is not a loop (yet).
 * Restarted after a loop, a container counts until it is ready or has run `crashLoopResetMs`.
 */
function crashLooping(status: V1ContainerStatus, nowMs: number): boolean {
  const { waiting, running, terminated } = status.state ?? {};
  // The run that ended last, and whether it was itself a restart (restartCount counts the restarts
  // up to the current run; an ended run is the current one).
  const ended = terminated ?? status.lastState?.terminated;
  const endedRun = terminated !== undefined ? status.restartCount : status.restartCount - 1;
  if (ended === undefined || ended.exitCode === 0 || endedRun < 1 || ranPastReset(ended)) return false;
  if (terminated !== undefined || waiting !== undefined) return true;
  if (running === undefined || status.ready) return false;
  const startedAt = running.startedAt === undefined ? Number.NaN : new Date(running.startedAt).getTime();
  return Number.isNaN(startedAt) || nowMs - startedAt < crashLoopResetMs;
}

/** The run lasted `crashLoopResetMs` or more (unknown times count as a short run). */
function ranPastReset(ended: { startedAt?: Date | string; finishedAt?: Date | string }): boolean {
  if (ended.startedAt === undefined || ended.finishedAt === undefined) return false;
  const ran = new Date(ended.finishedAt).getTime() - new Date(ended.startedAt).getTime();
  return !Number.isNaN(ran) && ran >= crashLoopResetMs;
}

/** "1 pod cannot run (name, container c): Reason: message", for status messages. */
export function describeFailing(failing: FailingPods): string {
  const pods = failing.pods === 1 ? "1 pod cannot run" : `${failing.pods} pods cannot run`;
  return `${pods} (${failing.firstPod}, ${failing.container}): ${failing.reason}: ${failing.message}`;
}

/**
 * "pod p, container c: OOMKilled, exit code 137" for the container that ended last with a non-zero exit
 * among `pods`, or undefined. For pods the kubelet does not restart (bootstrap shards: the Job makes a
 * new pod instead), so the Job's "reached the specified backoff limit" can say what the shards died of.
 */
export function lastFailedContainer(pods: readonly PodContainersView[]): string | undefined {
  const ended = pods.flatMap((pod) =>
    [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].flatMap(
      (status) => {
        const terminated = status.state?.terminated;
        if (terminated === undefined || terminated.exitCode === 0) return [];
        const at = terminated.finishedAt === undefined ? 0 : new Date(terminated.finishedAt).getTime();
        const detail = inParentheses(terminated.message);
        return [
          {
            at: Number.isNaN(at) ? 0 : at,
            text: `pod ${pod.metadata?.name ?? "?"}, container ${status.name}: ${terminated.reason ?? "Error"}, exit code ${terminated.exitCode}${detail}`,
          },
        ];
      },
    ),
  );
  return ended.sort((left, right) => right.at - left.at)[0]?.text;
}

/** " (summary)" of a termination message, or nothing when it has none. */
function inParentheses(message: string | undefined): string {
  const summary = message === undefined ? "" : terminationSummary(message);
  return summary === "" ? "" : ` (${summary})`;
}
