// The PodDisruptionBudget of a version: voluntary disruptions (node drains, cluster upgrades) take at
// most one serving pod at a time, so a drain never empties a version at once.
import type { V1PodDisruptionBudget } from "@kubernetes/client-node";
import type { EmbeddingModel } from "../../crds/index.ts";
import { childLabels } from "../shared/labels.ts";
import { servingName } from "../shared/names.ts";
import { controllerRef } from "../shared/owner.ts";

/** The PDB of one version's pods. */
export function desiredDisruptionBudget(
  model: EmbeddingModel,
  embeddingVersion: string,
): V1PodDisruptionBudget {
  const { labels, selector } = childLabels("serving", { model: model.metadata.name, embeddingVersion });
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: {
      name: servingName(model.metadata.name, embeddingVersion),
      namespace: model.metadata.namespace,
      labels,
      ownerReferences: [controllerRef(model)],
    },
    // maxUnavailable (not minAvailable) so a single-replica version can still be drained.
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selector },
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    },
  };
}
