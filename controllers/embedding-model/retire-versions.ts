// Removes the children of versions no longer served (after the spec's version took over). Only
// objects of this model are touched: same model label and a controller reference to its uid, or none
// at all (orphaned by `kubectl delete --cascade=orphan` of the model, adopted when applied again).
import type { EmbeddingModel } from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext } from "../../operator/runtime/types.ts";
import { childLabels, labelKeys } from "../shared/labels.ts";
import { isOrphaned } from "../shared/owner.ts";

/** The kinds that exist once per version. */
export const perVersionTypes = [
  resourceTypes.horizontalPodAutoscaler,
  resourceTypes.podDisruptionBudget,
  resourceTypes.service,
  resourceTypes.deployment,
  resourceTypes.configMap,
] as const;

/** Names per kind of the children of `model` that belong to versions outside `serve`. */
export function retiredChildren(
  model: EmbeddingModel,
  children: readonly KubeObject[],
  serve: readonly string[],
): KubeObject[] {
  return children.filter((child) => {
    const version = child.metadata?.labels?.[labelKeys.embeddingVersion];
    // Orphaned (the model deleted with --cascade=orphan and applied again): this model's, as its
    // records are (record-reader.ts); a served version's is adopted by its apply, another's retired.
    const controlled =
      isOrphaned(child) ||
      child.metadata?.ownerReferences?.some(
        (owner) => owner.controller === true && owner.uid === model.metadata.uid,
      ) === true;
    return version !== undefined && controlled && !serve.includes(version);
  });
}

/** Deletes the retired children from the API server, logging each. */
export async function deleteRetiredVersions(
  context: ReconcileContext,
  model: EmbeddingModel,
  serve: readonly string[],
): Promise<void> {
  const { selector } = childLabels("serving", { model: model.metadata.name });
  const namespace = model.metadata.namespace ?? "";
  for (const type of perVersionTypes) {
    const children = context.cache.list(type, { namespace, labels: selector });
    for (const child of retiredChildren(model, children, serve)) {
      const name = child.metadata?.name ?? "";
      context.log.info({ kind: type.kind, child: name }, "deleting a retired version's object");
      await context.client.delete(type, { namespace, name });
    }
  }
}
