// Which of a Deployment's pods run its current template. While a corrected template rolls out, the
// pods of the replaced one stay until new pods are ready (maxUnavailable 0 keeps a failing old pod as
// long as that takes); what they suffer (the wrong image, a crash loop since fixed) is no longer what
// holds the rollout up, and a status naming them would say the fix did not take. The Deployment
// controller names its new ReplicaSet in the Progressing condition (Created new replica set "x",
// Found new replica set "x", ReplicaSet "x" is progressing / has successfully progressed / has timed
// out progressing); pods carry their ReplicaSet as controller owner. The cache keeps neither the
// ReplicaSets nor the Deployment's pod spec, so the condition is the one place that says it. Pure.

/** What is read of the Deployment (the cache keeps its metadata and status). */
export interface DeploymentTemplateView {
  metadata?: { generation?: number };
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; message?: string }[];
  };
}

/** What is read of a pod. */
export interface PodOwnerView {
  metadata?: { ownerReferences?: { kind: string; name: string; controller?: boolean }[] };
}

const newReplicaSet = /^(?:Created new replica set|Found new replica set|ReplicaSet) "([^"]+)"/;

/**
 * The pods of `deployment`'s current template: none while the Deployment controller has not seen its
 * latest spec (every pod there runs a replaced template), those of the ReplicaSet its Progressing
 * condition names otherwise, and all of them when no condition names one (paused, not yet reported).
 * A pod no ReplicaSet controls is kept.
 */
export function currentTemplatePods<Pod extends PodOwnerView>(
  deployment: DeploymentTemplateView | undefined,
  pods: readonly Pod[],
): readonly Pod[] {
  if (deployment === undefined) return pods;
  if ((deployment.status?.observedGeneration ?? 0) < (deployment.metadata?.generation ?? 0)) return [];
  const progressing = deployment.status?.conditions?.find((condition) => condition.type === "Progressing");
  const current = newReplicaSet.exec(progressing?.message ?? "")?.[1];
  if (current === undefined) return pods;
  return pods.filter((pod) => {
    const owner = pod.metadata?.ownerReferences?.find((reference) => reference.controller === true);
    return owner?.kind !== "ReplicaSet" || owner.name === current;
  });
}
