// Why pods that do not fail are not ready, for a status that is not Ready yet: a container restarted
// once after a failed exit (not a crash loop: ./failing-pods.ts), a container running whose startup or
// readiness probe has not passed, and a pod its node stopped (evicted for memory or disk pressure,
// shut down with the node, refused at admission). None of these is a failure by itself: a Deployment
// replaces a stopped pod, and a probe may pass later; its progress deadline decides when waiting is
// over. Without this, the status said only "0/1 replicas ready" until then. The probe's own answer
// ("Readiness probe failed: HTTP probe failed with statuscode: 503") is only in the kubelet's
// Unhealthy Events on the pod: `probeFailure` picks it from Events the caller reads. Only stable facts
// (pod names, start times, exits, the kubelet's words), so a status that keeps saying the same thing
// is not rewritten at each reconcile. Pure; used for serving pods, nearline workers and bootstrap
// shards alike (./probe-events.ts reads the Events).
import type { V1ContainerStatus } from "@kubernetes/client-node";
import { lastExit, podEnded, type PodContainersView } from "./failing-pods.ts";
import { eventTimeMs, type EventView } from "./refused-pods.ts";

/** What is read of a pod (the cache keeps metadata and status). */
export interface UnreadyPodView extends PodContainersView {
  metadata?: PodContainersView["metadata"] & { uid?: string };
  status?: PodContainersView["status"] & {
    /** Why the pod ended, for a pod its node stopped: Evicted, NodeShutdown, OutOfmemory, ... */
    reason?: string;
    message?: string;
  };
}

/** A probe that has not passed: whose Events to read, and from when. */
export interface PendingProbe {
  podUid: string;
  kind: "Startup" | "Readiness";
  /** When the container started: failures before are of an earlier run. */
  sinceMs: number;
}

/** Why pods are not ready. */
export interface UnreadyPods {
  /** The first pod that runs, or was restarted, without being ready, and what its container does. */
  notReady?: { pod: string; detail: string; probe?: PendingProbe; head?: string };
  /** The latest pod its node stopped (phase Failed with a reason), with the kubelet's words. */
  stopped?: { pod: string; reason: string; message: string };
}

/** What is read of an Event (as for refused pods). */
export type ProbeEventView = EventView;

/**
 * Why `pods` (not being deleted) are not ready, or undefined when nothing says more than the counts:
 * every container ready, or still being created. A pod restarted after a failed exit is named before
 * a pod merely not ready.
 */
export function unreadyPods(pods: readonly UnreadyPodView[]): UnreadyPods | undefined {
  const live = pods.filter((pod) => pod.metadata?.deletionTimestamp === undefined);
  const found = live
    .filter((pod) => !podEnded(pod))
    .flatMap((pod) => {
      const statuses = [
        ...(pod.status?.initContainerStatuses ?? []).map((status) => ({ status, init: true })),
        ...(pod.status?.containerStatuses ?? []).map((status) => ({ status, init: false })),
      ];
      for (const { status, init } of statuses) {
        const detail = containerDetail(status, init, pod);
        if (detail !== undefined) return [{ pod: pod.metadata?.name ?? "?", ...detail }];
      }
      return [];
    });
  const [notReady] = [
    ...found.filter((entry) => entry.restarted),
    ...found.filter((entry) => !entry.restarted),
  ];
  const stopped = live
    .filter((pod) => pod.status?.phase === "Failed" && pod.status.reason !== undefined)
    .sort((left, right) => timeMs(right.status?.startTime) - timeMs(left.status?.startTime))[0];
  if (notReady === undefined && stopped === undefined) return undefined;
  return {
    ...(notReady !== undefined
      ? {
          notReady: {
            pod: notReady.pod,
            detail: notReady.detail,
            ...(notReady.probe !== undefined ? { probe: notReady.probe } : {}),
            ...(notReady.head !== undefined ? { head: notReady.head } : {}),
          },
        }
      : {}),
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

/**
 * The kubelet's latest report that `probe` failed ("Readiness probe failed: ..."), among the pod's
 * Events, since its container started; undefined when there is none.
 */
export function probeFailure(events: readonly ProbeEventView[], probe: PendingProbe): string | undefined {
  const prefix = `${probe.kind} probe failed`;
  return events
    .filter((event) => event.reason === "Unhealthy" && (event.message ?? "").startsWith(prefix))
    .map((event) => ({ message: (event.message ?? "").trim(), at: eventTimeMs(event) }))
    .filter((event) => event.at >= probe.sinceMs)
    .sort((left, right) => right.at - left.at)[0]?.message;
}

/** `unready` with the probe's own failure in place of the pointer to `kubectl describe pod`. */
export function withProbeFailure(unready: UnreadyPods, failure: string | undefined): UnreadyPods {
  const notReady = unready.notReady;
  if (failure === undefined || notReady?.probe === undefined || notReady.head === undefined) return unready;
  const what = notReady.probe.kind === "Startup" ? "not started" : "not ready";
  return { ...unready, notReady: { ...notReady, detail: `${notReady.head}, ${what}: ${failure}` } };
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

interface Detail {
  detail: string;
  /** The container was restarted after a failed exit. */
  restarted: boolean;
  probe?: PendingProbe;
  /** The detail up to what the probe says, for `withProbeFailure`. */
  head?: string;
}

/**
 * Why a container is not ready: restarted after a failed exit and not up again (an init container:
 * not done), or running without passing its startup or readiness probe (with the restart, if any).
 */
function containerDetail(status: V1ContainerStatus, init: boolean, pod: UnreadyPodView): Detail | undefined {
  const label = `${init ? "init container" : "container"} ${status.name}`;
  const last = status.lastState?.terminated;
  const restarted = last !== undefined && last.exitCode !== 0 && status.restartCount >= 1;
  const running = status.state?.running;
  if (init) {
    if (!restarted || status.state?.terminated?.exitCode === 0) return undefined;
    return {
      detail: `${label}: restarted after a failed exit, not done yet (${lastExit(status)})`,
      restarted,
    };
  }
  if (status.ready) return undefined;
  if (running === undefined)
    return restarted
      ? { detail: `${label}: restarted after a failed exit, not ready yet (${lastExit(status)})`, restarted }
      : undefined;
  const name = pod.metadata?.name ?? "?";
  const startedAt = timeMs(running.startedAt);
  const since =
    startedAt === 0 ? "" : ` since ${new Date(startedAt).toISOString().replace(/\.\d{3}Z$/, "Z")}`;
  const head = `${label}: running${since}${restarted ? `, restarted after a failed exit (${lastExit(status)})` : ""}`;
  const kind = status.started === false ? "Startup" : "Readiness";
  const what = kind === "Startup" ? "not started: its startup probe" : "not ready: its readiness probe";
  const uid = pod.metadata?.uid;
  return {
    detail: `${head}, ${what} has not passed (kubectl describe pod ${name} shows the probe's failures)`,
    restarted,
    head,
    ...(uid !== undefined ? { probe: { podUid: uid, kind, sinceMs: startedAt } } : {}),
  };
}

/** Milliseconds since the epoch, 0 when absent or not a time. */
function timeMs(value: Date | string | null | undefined): number {
  const at = value === undefined || value === null ? Number.NaN : new Date(value).getTime();
  return Number.isNaN(at) ? 0 : at;
}
