// The Node objects of the testbed's nodes (kwok's simulated ones and the local ones), shaped like
// nodes of a GPU cluster: capacity, the labels and taint the NVIDIA GPU operator sets.

/** A testbed node: its name, GPU count, and what marks its kind. */
export interface TestbedNode {
  name: string;
  gpus: number;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  taints?: { key: string; value: string; effect: string }[];
  /** Pod capacity (the kubelet's --max-pods); 110, the kubelet default, when absent. */
  maxPods?: number;
}

/** The Node manifest (metadata, spec.taints, status capacity and allocatable). */
export function nodeManifest(node: TestbedNode): {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations: Record<string, string>; labels: Record<string, string> };
  spec: { taints?: { key: string; value: string; effect: string }[] };
  status: { allocatable: Record<string, string>; capacity: Record<string, string> };
} {
  const gpu = node.gpus > 0;
  const capacity: Record<string, string> = {
    cpu: gpu ? "96" : "32",
    memory: gpu ? "1Ti" : "128Gi",
    pods: String(node.maxPods ?? 110),
    "ephemeral-storage": "1Ti",
  };
  if (gpu) capacity["nvidia.com/gpu"] = String(node.gpus);
  const taints = [
    ...(gpu ? [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] : []),
    ...(node.taints ?? []),
  ];
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: node.name,
      annotations: { "node.alpha.kubernetes.io/ttl": "0", ...node.annotations },
      labels: {
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/agent": "",
        ...node.labels,
        ...(gpu
          ? {
              "nvidia.com/gpu.present": "true",
              "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
              "nvidia.com/gpu.count": String(node.gpus),
              "nvidia.com/gpu.memory": "81559",
            }
          : {}),
      },
    },
    spec: taints.length > 0 ? { taints } : {},
    status: { allocatable: capacity, capacity },
  };
}
