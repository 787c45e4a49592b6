// Registers the local nodes and keeps them alive like a kubelet: Node status with a Ready condition
// and heartbeat, and a renewed Lease in kube-node-lease (what the node lifecycle controller watches).
import { ApiError, type KubeApi } from "./kube-api.ts";
import { nodeManifest, type TestbedNode } from "../node-manifest.ts";

/** Taint that keeps pods off the local nodes unless they opt in with a toleration. */
export const localNodeTaint = { key: "testbed.jude.dev/local-node", value: "true", effect: "NoSchedule" };

/**
 * What an operator passes as its workload placement (`--workload-node-selector
 * testbed.jude.dev/node=local --workload-tolerations '[…]'`) so every pod it renders runs on the local
 * nodes, never on kwok's pretend nodes.
 */
export const localNodePlacement = {
  nodeSelector: { "testbed.jude.dev/node": "local" },
  tolerations: [{ key: localNodeTaint.key, operator: "Exists", effect: localNodeTaint.effect }],
};

/**
 * The local nodes of an agent: one GPU-shaped node and one CPU node, names distinct from kwok's. A
 * second agent on the same cluster (one testing a checkout's own agent code) passes a `prefix`: its
 * nodes are `<prefix>local-gpu-0` … and carry `testbed.jude.dev/node=<prefix>local`, so workloads placed
 * with `localNodePlacement` never land on them.
 */
export function localNodesFor(prefix: string): TestbedNode[] {
  const labels = { type: "local", "testbed.jude.dev/node": `${prefix}local` };
  return [
    { name: `${prefix}local-gpu-0`, gpus: 1, labels, taints: [localNodeTaint] },
    { name: `${prefix}local-cpu-0`, gpus: 0, labels, taints: [localNodeTaint] },
  ];
}

/** The testbed agent's local nodes: `local-gpu-0` and `local-cpu-0`. */
export const localNodes: TestbedNode[] = localNodesFor("");

const leaseSeconds = 40;

/** Creates (or updates) the Node objects. */
export async function registerNodes(
  api: KubeApi,
  kubeletVersion: string,
  nodes: readonly TestbedNode[],
): Promise<void> {
  for (const node of nodes) {
    const manifest = nodeManifest(node);
    const { status: _status, ...object } = manifest;
    try {
      await api.send("POST", "/api/v1/nodes", object);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409)) throw error;
      await api.mergePatch(`/api/v1/nodes/${node.name}`, { metadata: object.metadata, spec: object.spec });
    }
    await api.mergePatch(`/api/v1/nodes/${node.name}/status`, {
      status: { ...manifest.status, nodeInfo: nodeInfo(kubeletVersion) },
    });
  }
}

/** One heartbeat: Ready condition, addresses, and the Lease renewal. */
export async function heartbeat(api: KubeApi, address: string, nodes: readonly TestbedNode[]): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  for (const node of nodes) {
    const condition = (type: string, status: string, reason: string) => ({
      type,
      status,
      reason,
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    });
    await api.mergePatch(`/api/v1/nodes/${node.name}/status`, {
      status: {
        conditions: [
          condition("Ready", "True", "KubeletReady"),
          condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
          condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
          condition("PIDPressure", "False", "KubeletHasSufficientPID"),
        ],
        addresses: [
          { type: "InternalIP", address },
          { type: "Hostname", address: node.name },
        ],
      },
    });
    await renewLease(api, node.name, now.replace("Z", ".000000Z"));
  }
}

async function renewLease(api: KubeApi, nodeName: string, renewTime: string): Promise<void> {
  const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodeName}`;
  const spec = { holderIdentity: nodeName, leaseDurationSeconds: leaseSeconds, renewTime };
  const existing = await api.get<object>(path);
  if (existing === undefined) {
    await api.send("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: nodeName, namespace: "kube-node-lease" },
      spec,
    });
  } else {
    await api.mergePatch(path, { spec });
  }
}

/** Deletes the Node objects (the agent is stopping; their pods are garbage-collected). */
export async function deregisterNodes(api: KubeApi, nodes: readonly TestbedNode[]): Promise<void> {
  for (const node of nodes) {
    await api.send("DELETE", `/api/v1/nodes/${node.name}`).catch(() => undefined);
  }
}

function nodeInfo(kubeletVersion: string): Record<string, string> {
  return {
    kubeletVersion: `v${kubeletVersion}`,
    kubeProxyVersion: `v${kubeletVersion}`,
    operatingSystem: "linux",
    architecture: "amd64",
    containerRuntimeVersion: "jude-local://0.1",
    osImage: "jude testbed local node",
    kernelVersion: "",
    machineID: "",
    systemUUID: "",
    bootID: "",
  };
}
