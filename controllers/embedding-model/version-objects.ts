// Everything that serves one embedding version, built together so the ConfigMap's hash and the
// manifest's checksum land in the Deployment that reads them. The ConfigMap is content-addressed
// (`<deployment>-<hash>`, ../shared/config-map-names.ts): a new config is a new ConfigMap, so a pod
// of the previous template that restarts reads its own config again. Pure.
import type { V1ConfigMap } from "@kubernetes/client-node";
import type { EmbeddingModel } from "../../crds/index.ts";
import type { Images } from "../shared/image.ts";
import { desiredDisruptionBudget } from "../shared/disruption-budget.ts";
import { childLabels } from "../shared/labels.ts";
import { configMapName, configOwnerLabels } from "../shared/config-map-names.ts";
import type { WorkloadPlacement } from "../shared/placement.ts";
import { servingName } from "../shared/names.ts";
import type { SecretsAsRead } from "../shared/secret-wiring.ts";
import { controllerRef } from "../shared/owner.ts";
import { desiredAutoscaler } from "./autoscaler.ts";
import { desiredDeployment } from "./deployment.ts";
import { configFiles, configHash, servingConfigData, sha256Hex } from "./serving-config.ts";
import { desiredVersionService } from "./service.ts";

/**
 * The children of the spec's version, in the order they are applied (config before its readers);
 * `autoscalerFloor` raises its HPA's minReplicas; `secrets` (as read) stamps the pod template with
 * what the server reads of its TLS Secret (../shared/secret-wiring.ts secretStampsOf).
 */
export function desiredVersionObjects(
  model: EmbeddingModel,
  images: Images,
  placement?: WorkloadPlacement,
  autoscalerFloor?: number,
  secrets?: SecretsAsRead,
): object[] {
  const embeddingVersion = model.spec.version;
  const name = servingName(model.metadata.name, embeddingVersion);
  const data = servingConfigData(model);
  const manifest = data[configFiles.manifest];
  const { labels, selector } = childLabels("serving", { model: model.metadata.name, embeddingVersion });
  const hash = configHash(data);
  const configMap: V1ConfigMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: configMapName(name, hash),
      namespace: model.metadata.namespace,
      labels: configOwnerLabels(labels, name),
      ownerReferences: [controllerRef(model)],
    },
    data,
  };
  const autoscaler = desiredAutoscaler(model, embeddingVersion, autoscalerFloor);
  return [
    configMap,
    desiredDeployment(
      model,
      images,
      {
        hash,
        configMapName: configMap.metadata!.name!,
        manifestSha256: manifest === undefined ? undefined : sha256Hex(manifest),
        secrets,
      },
      placement,
    ),
    desiredVersionService(model, embeddingVersion),
    desiredDisruptionBudget({
      name,
      namespace: model.metadata.namespace,
      labels,
      selector,
      owner: controllerRef(model),
    }),
    ...(autoscaler === undefined ? [] : [autoscaler]),
  ];
}
