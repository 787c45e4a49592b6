// The config ConfigMap a workload mounts. Worker and serving configs are content-addressed
// (`<deployment>-<hash>`, controllers/shared/config-map-names.ts), so tests find a config through
// the Deployment that mounts it rather than by the Deployment's name.
import type { V1ConfigMap } from "@kubernetes/client-node";
import { kubectlJson } from "./kubectl.ts";

/** A Deployment as far as its pod template's volumes. */
export interface MountingWorkload {
  spec?: { template?: { spec?: { volumes?: { name: string; configMap?: { name?: string } }[] } } };
}

/** The name of the ConfigMap a Deployment's pod template mounts as its `config` volume. */
export function configMapNameOf(workload: MountingWorkload): string {
  const name = workload.spec?.template?.spec?.volumes?.find((volume) => volume.name === "config")?.configMap
    ?.name;
  if (name === undefined) throw new Error("the pod template mounts no config ConfigMap");
  return name;
}

/** The config ConfigMap that Deployment `deployment` mounts now, as the API server holds it. */
export async function mountedConfigMap(namespace: string, deployment: string): Promise<V1ConfigMap> {
  const workload = await kubectlJson<MountingWorkload>(["get", "-n", namespace, `deployment/${deployment}`]);
  return kubectlJson<V1ConfigMap>(["get", "-n", namespace, `configmap/${configMapNameOf(workload)}`]);
}
