// A rendered worker config as a ConfigMap, plus the hash of its content that goes into the pod
// template, so that changing the config rolls the pods. Shared by the nearline and bootstrap builders.
// Nearline workers' ConfigMaps are content-addressed (../shared/config-map-names.ts): a new config is
// a new ConfigMap, and the pods of the previous template keep reading theirs. A bootstrap Job's is
// named after the Job: a Job's template cannot change, and its ConfigMap is written only when the Job
// is created (or put back, with the same content, when deleted under it), never under running shards.
import { createHash } from "node:crypto";
import type { V1ConfigMap, V1OwnerReference } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { configMapName, configOwnerLabels } from "../shared/config-map-names.ts";

/** The file name of the config inside its ConfigMap and inside the container. */
export const configFileName = "config.yaml";
/** Where the config ConfigMap is mounted in worker containers. */
export const configMountPath = "/etc/jude";

/** A ConfigMap and the sha256 of its data. */
export interface RenderedConfigMap {
  configMap: V1ConfigMap;
  configHash: string;
}

/**
 * Serialises `config` as YAML into a ConfigMap owned by `owner`, named `name` or, `contentAddressed`,
 * `<name>-<hash>` and labelled as the config of `name`.
 */
export function configMapFor(options: {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  owner: V1OwnerReference;
  config: unknown;
  contentAddressed: boolean;
}): RenderedConfigMap {
  const text = stringify(options.config, { lineWidth: 0 });
  const configHash = createHash("sha256").update(text).digest("hex");
  return {
    configHash,
    configMap: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: options.contentAddressed ? configMapName(options.name, configHash) : options.name,
        namespace: options.namespace,
        labels: options.contentAddressed ? configOwnerLabels(options.labels, options.name) : options.labels,
        ownerReferences: [options.owner],
      },
      data: { [configFileName]: text },
    },
  };
}
