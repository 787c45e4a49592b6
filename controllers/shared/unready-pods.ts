// Why pods that do not fail are not ready, for a status that is not Ready yet: a container restarted
// once after a failed exit (not a crash loop: ./failing-pods.ts), a container running whose startup or
// readiness probe has not passed, and a pod its node stopped (evicted for memory or disk pressure,
// shut down with the node, refused at admission). None of these is a failure by itself: a Deployment
// replaces a stopped pod, and a probe may pass later; its progress deadline decides when waiting is
// over. Without this, the status said only "0/1 replicas ready" until then. The probe's own failure
// ("Readiness probe failed: ...") is only in the pod's Events, which the operator does not read; the
// message says where to look. Only stable facts (pod names, start times, exits), so a status that keeps
// saying the same thing is not rewritten at each reconcile. Pure.
import type { V1ContainerStatus } from "@kubernetes/client-node";
import { lastExit, podEnded, type PodContainersView } from "./failing-pods.ts";

/** What is read of a pod (the cache keeps metadata and status). */
export interface UnreadyPodView extends PodContainersView {
  status?: PodContainersView["status"] & {
    /** Why the pod ended, for a pod its node stopped: Evicted, NodeShutdown, OutOfmemory, ... */
    reason?: string;
    message?: string;
  };
}

/** Why pods are not ready. */
export interface UnreadyPods {
  /** The first pod that runs, or was restarted, without being ready, and what its container does. */
  notReady?: { pod: string; detail: string };
  /** The latest pod its node stopped (phase Failed with a reason), with the kubelet's words. */
  stopped?: { pod: string; reason: string; message: string };
}

/**
 * Why `pods` (not being deleted) are not ready, or undefined when nothing says more than the counts:
 * every container ready, or still being created. A restart after a failed exit is named before a
 * container merely not ready.
 */
export function unreadyPods(pods: readonly UnreadyPodView[]): UnreadyPods | undefined {
  const live = pods.filter((pod) => pod.metadata?.deletionTimestamp === undefined);
  const running = live.filter((pod) => !podEnded(pod));
  const details = (pick: (status: V1ContainerStatus, init: boolean, pod: string) => string | undefined) =>
    running.flatMap((pod) => {
      const statuses = [
        ...(pod.status?.initContainerStatuses ?? []).map((status) => ({ status, init: true })),
        ...(pod.status?.containerStatuses ?? []).map((status) => ({ status, init: false })),
      ];
      const name = pod.metadata?.name ?? "?";
      for (const { status, init } of statuses) {
        const detail = pick(status, init, name);
        if (detail !== undefined)
          return [
            { pod: name, detail: `${init ? "init container" : "container"} ${status.name}: ${detail}` },
          ];
      }
      return [];
    });
  const notReady = details(restartedAfterFailure)[0] ?? details(probeNotPassed)[0];
  const stopped = live
    .filter((pod) => pod.status?.phase === "Failed" && pod.status.reason !== undefined)
    .sort((left, right) => startMs(right) - startMs(left))[0];
  if (notReady === undefined && stopped === undefined) return undefined;
  return {
    ...(notReady !== undefined ? { notReady } : {}),
    ...(stopped !== undefined
      ? {
          stopped: {
            pod: stopped.metadata?.name ?? "?",
            reason: stopped.status!.reason!,
            message: (stopped.status?.message ?? "").trim() || "no message",
          },
        }
      : {}),
  };
}

/** "pod p, container c: ...; pod q was stopped by its node: Evicted: ...", for status messages. */
export function describeUnready(unready: UnreadyPods): string {
  const { notReady, stopped } = unready;
  return [
    ...(notReady !== undefined ? [`pod ${notReady.pod}, ${notReady.detail}`] : []),
    ...(stopped !== undefined
      ? [`pod ${stopped.pod} was stopped by its node: ${stopped.reason}: ${stopped.message}`]
      : []),
  ].join("; ");
}

/** A container not ready (or an init container not done) that was restarted after a failed exit. */
function restartedAfterFailure(status: V1ContainerStatus, init: boolean): string | undefined {
  const last = status.lastState?.terminated;
  if (last === undefined || last.exitCode === 0 || status.restartCount < 1) return undefined;
  if (init ? status.state?.terminated?.exitCode === 0 : status.ready) return undefined;
  return `restarted after a failed exit, not ${init ? "done" : "ready"} yet (${lastExit(status)})`;
}

/** A main container that runs and is not ready: its startup or readiness probe has not passed. */
function probeNotPassed(status: V1ContainerStatus, init: boolean, pod: string): string | undefined {
  const running = status.state?.running;
  if (init || running === undefined || status.ready) return undefined;
  const startedAt = running.startedAt === undefined ? Number.NaN : new Date(running.startedAt).getTime();
  const since = Number.isNaN(startedAt)
    ? ""
    : ` since ${new Date(startedAt).toISOString().replace(/\.\d{3}Z$/, "Z")}`;
  const probe =
    status.started === false
      ? "not started: its startup probe has not passed"
      : "not ready: its readiness probe has not passed";
  return `running${since}, ${probe} (kubectl describe pod ${pod} shows the probe's failures)`;
}

function startMs(pod: UnreadyPodView): number {
  const at = pod.status?.startTime === undefined ? Number.NaN : new Date(pod.status.startTime).getTime();
  return Number.isNaN(at) ? 0 : at;
}
