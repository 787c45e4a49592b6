// Shared helpers of the local-node integration tests: bring the agent up (and down when this run
// started it), a namespace per test file, pod templates pinned to the local nodes, and waits.
import { afterAll, beforeAll } from "vitest";
import { kubectl, kubectlJson } from "../../../support/kubectl.ts";
import { down, up } from "../../../testbed/index.ts";
import { localNodeTaint } from "../../../testbed/local-nodes/local-node-registry.ts";
import { waitFor } from "../../../testbed/wait.ts";

/** The project's image; local nodes run it from the checkout. */
export const judeImage = "ghcr.io/jude-dev/jude:testbed";

/** Starts the local-nodes component for a test file; returns the teardown. */
async function useLocalNodes(): Promise<() => Promise<void>> {
  const { started, env } = await up(["local-nodes"]);
  Object.assign(process.env, env);
  return async () => {
    if (started.includes("local-nodes") && process.env.JUDE_TESTBED_KEEP !== "1") await down(["local-nodes"]);
  };
}

/**
 * Prefix of the local nodes the tests use: empty for the testbed's agent; a checkout testing its own
 * agent code beside a shared testbed runs a second agent with `nodePrefix` and sets
 * `JUDE_LOCAL_NODE_PREFIX` to the same value (README, local nodes).
 */
export const localNodePrefix = process.env.JUDE_LOCAL_NODE_PREFIX ?? "";

/** Pod spec fields that put a pod on a local node (they carry an opt-in taint). */
export function onLocalNode(node: "local-cpu-0" | "local-gpu-0" = "local-cpu-0"): Record<string, unknown> {
  return {
    nodeSelector: { "kubernetes.io/hostname": `${localNodePrefix}${node}` },
    tolerations: [
      { key: localNodeTaint.key, operator: "Exists", effect: "NoSchedule" },
      { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
    ],
  };
}

/** Applies manifests (server-side) from objects. */
export async function apply(...objects: object[]): Promise<void> {
  await kubectl(
    ["apply", "--server-side", "--force-conflicts", "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  );
}

/** Minimal typed views of what the tests read. */
export interface ContainerStatus {
  name: string;
  image?: string;
  ready: boolean;
  restartCount: number;
  containerID?: string;
  state: {
    running?: { startedAt: string };
    waiting?: { reason: string; message?: string };
    terminated?: { exitCode: number; reason: string };
  };
  lastState: { terminated?: { exitCode: number; reason: string } };
}
export interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
}

/** Pods of a namespace matching a label selector. */
export async function pods(namespace: string, selector: string): Promise<Pod[]> {
  return (await kubectlJson<{ items: Pod[] }>(["get", "pods", "-n", namespace, "-l", selector])).items;
}

/** The real pid behind a container status (`local://<pid>`). */
export function pidOf(status: ContainerStatus | undefined): number | undefined {
  const match = /^local:\/\/(\d+)$/.exec(status?.containerID ?? "");
  return match === null ? undefined : Number(match[1]);
}

/** True when a pod's Ready condition is True. */
export function isReady(pod: Pod): boolean {
  return pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
}

/** Waits for a condition over the cluster with a generous timeout (the machine is shared). */
export async function eventually(
  description: string,
  check: () => Promise<boolean>,
  timeoutMs = 180_000,
): Promise<void> {
  await waitFor(description, check, { timeoutMs, intervalMs: 500 });
}

/**
 * Registers the hooks of a local-node test file: the agent up (and down again when this file started
 * it) and a namespace of its own; `cleanup` runs before the agent stops.
 */
export function withLocalNodes(
  namespace: string,
  cleanup: () => Promise<void> | void = () => undefined,
): void {
  let stopLocalNodes: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    stopLocalNodes = await useLocalNodes();
    await kubectl(["create", "namespace", namespace]);
  });
  afterAll(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await cleanup();
    await stopLocalNodes?.();
  });
}
