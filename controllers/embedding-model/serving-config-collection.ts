// The serving ConfigMaps a version's rollouts left behind: content-addressed, each config stays while
// a pod of that version mounts it or the Deployment still rolls out, and is deleted after
// (../shared/config-map-names.ts), the un-suffixed one of releases before content addressing too.
import type { V1ConfigMap, V1Pod } from "@kubernetes/client-node";
import type { EmbeddingModel } from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext } from "../../operator/runtime/types.ts";
import { deleteSupersededConfigMaps, type DeploymentRollout } from "../shared/config-map-names.ts";
import { childLabels } from "../shared/labels.ts";
import { servingName } from "../shared/names.ts";

/**
 * Deletes the superseded config ConfigMaps of `embeddingVersion`'s serving, given the objects just
 * applied for it (`objects`, its ConfigMap among them) and the Deployment as the apply returned it.
 */
export async function deleteSupersededServingConfigs(
  context: ReconcileContext,
  model: EmbeddingModel,
  embeddingVersion: string,
  objects: readonly KubeObject[],
  deployment: KubeObject | undefined,
): Promise<void> {
  const configMap = objects.find((object): object is V1ConfigMap & KubeObject => object.kind === "ConfigMap");
  const current = configMap?.metadata?.name;
  if (current === undefined) return;
  const namespace = model.metadata.namespace ?? context.key.namespace;
  const { selector } = childLabels("serving", { model: model.metadata.name, embeddingVersion });
  await deleteSupersededConfigMaps(context, {
    namespace,
    base: servingName(model.metadata.name, embeddingVersion),
    current,
    ownerUid: model.metadata.uid,
    selector,
    deployment: deployment as DeploymentRollout | undefined,
    pods: context.cache.list<V1Pod & KubeObject>(resourceTypes.pod, { namespace, labels: selector }),
  });
}
