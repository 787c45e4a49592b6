// A rendered worker config as a ConfigMap, plus the hash of its content that goes into the pod
// template, so that changing the config rolls the pods. Shared by the nearline and bootstrap builders.
import { createHash } from "node:crypto";
import type { V1ConfigMap, V1OwnerReference } from "@kubernetes/client-node";
import { stringify } from "yaml";

/** The file name of the config inside its ConfigMap and inside the container. */
export const configFileName = "config.yaml";
/** Where the config ConfigMap is mounted in worker containers. */
export const configMountPath = "/etc/jude";

/** A ConfigMap and the sha256 of its data. */
export interface RenderedConfigMap {
  configMap: V1ConfigMap;
  configHash: string;
}

/** Serialises `config` as YAML into a ConfigMap named `name`, owned by `owner`. */
export function configMapFor(options: {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  owner: V1OwnerReference;
  config: unknown;
}): RenderedConfigMap {
  const text = stringify(options.config, { lineWidth: 0 });
  return {
    configHash: createHash("sha256").update(text).digest("hex"),
    configMap: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: options.name,
        namespace: options.namespace,
        labels: options.labels,
        ownerReferences: [options.owner],
      },
      data: { [configFileName]: text },
    },
  };
}
