/**
 * What a kubelet reports of a pod, written by a test onto kwok's pretend pods (kwok leaves a pod
 * with running containers alone, and the controllers act on the status as on a real kubelet's).
 */
import type { V1Pod } from "@kubernetes/client-node";
import { waitFor } from "../testbed/wait.ts";
import { kubectl, kubectlJson } from "./kubectl.ts";

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

/**
 * The running pods (not being deleted, with container statuses) whose name starts with `prefix`,
 * waiting up to a minute for at least one: a Deployment's or Job's pods once kwok runs them.
 */
export async function runningPods(namespace: string, prefix: string): Promise<V1Pod[]> {
  let found: V1Pod[] = [];
  await waitFor(
    `running pods ${prefix}*`,
    async () => {
      const pods = await kubectlJson<{ items: V1Pod[] }>(["get", "pods", "-n", namespace]);
      found = pods.items.filter(
        (pod) =>
          pod.metadata?.name?.startsWith(prefix) === true &&
          pod.metadata.deletionTimestamp === undefined &&
          pod.status?.phase === "Running" &&
          (pod.status.containerStatuses ?? []).length > 0,
      );
      return found.length > 0;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  return found;
}
