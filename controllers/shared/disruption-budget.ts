// The PodDisruptionBudget of a version's pods (serving, nearline workers): voluntary disruptions (node
// drains, cluster upgrades) take at most one of them at a time, so a drain never empties a version at
// once, and pods that are not ready may always be evicted so a broken version never blocks a drain.
import type { V1OwnerReference, V1PodDisruptionBudget } from "@kubernetes/client-node";

/** The PDB named `name` over the pods `selector` matches. */
export function desiredDisruptionBudget(child: {
  name: string;
  namespace: string | undefined;
  labels: Record<string, string>;
  selector: Record<string, string>;
  owner: V1OwnerReference;
}): V1PodDisruptionBudget {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: {
      name: child.name,
      namespace: child.namespace,
      labels: child.labels,
      ownerReferences: [child.owner],
    },
    // maxUnavailable (not minAvailable) so a single-replica version can still be drained.
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: child.selector },
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    },
  };
}
