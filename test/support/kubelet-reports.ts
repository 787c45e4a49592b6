/**
 * What a kubelet reports of a pod, written by a test onto kwok's pretend pods (kwok leaves a pod
 * with running containers alone, and the controllers act on the status as on a real kubelet's).
 */
import type { V1Pod } from "@kubernetes/client-node";
import { kubectl } from "./kubectl.ts";

/**
 * Writes the status of `pod` after `restarts` restarts, the last run having failed seconds ago with
 * `lastExitMessage`, its containers running again and ready or not.
 */
export async function reportRestarted(
  namespace: string,
  pod: V1Pod,
  restarts: number,
  ready: boolean,
  lastExitMessage: string,
): Promise<void> {
  const now = Date.now();
  const at = (ms: number) => new Date(now - ms).toISOString();
  const containerStatuses = (pod.status?.containerStatuses ?? []).map((status) => ({
    ...status,
    ready,
    started: true,
    restartCount: restarts,
    state: { running: { startedAt: at(1_000) } },
    lastState:
      restarts === 0
        ? {}
        : {
            terminated: {
              exitCode: 1,
              reason: "Error",
              message: `${lastExitMessage}\n`,
              startedAt: at(5_000),
              finishedAt: at(2_000),
            },
          },
  }));
  const value = ready ? "True" : "False";
  const conditions = (pod.status?.conditions ?? []).map((condition) =>
    condition.type === "Ready" || condition.type === "ContainersReady"
      ? { ...condition, status: value, lastTransitionTime: at(0) }
      : condition,
  );
  await kubectl([
    "patch",
    "-n",
    namespace,
    `pod/${pod.metadata!.name!}`,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status: { containerStatuses, conditions } }),
  ]);
}

/** The Event a kubelet records when the probe of `container` in `pod` fails. */
export async function reportProbeFailure(
  namespace: string,
  pod: V1Pod,
  container: string,
  message: string,
): Promise<void> {
  const now = new Date().toISOString();
  const event = {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: `${pod.metadata!.name!}.probe-${Date.now().toString(36)}`, namespace },
    involvedObject: {
      apiVersion: "v1",
      kind: "Pod",
      name: pod.metadata!.name!,
      namespace,
      uid: pod.metadata!.uid!,
      fieldPath: `spec.containers{${container}}`,
    },
    reason: "Unhealthy",
    message,
    type: "Warning",
    source: { component: "kubelet" },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
  await kubectl(["create", "-n", namespace, "-f", "-"], JSON.stringify(event));
}
