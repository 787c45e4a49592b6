// The resource types the operator reads and writes, with what the API paths need (group, version,
// plural, scope). A static table instead of discovery: the operator knows exactly what it touches,
// and a missing API (e.g. no CRDs installed) fails loudly at start-up instead of at first use.
import type { ObjectKey } from "./types.ts";

/** One API resource. */
export interface ResourceType {
  /** "" for the core group. */
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

/** `apiVersion` of objects of a type, e.g. apps/v1 or v1. */
export function apiVersionOf(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/** A short stable name for logs and metric labels, e.g. deployments.apps. */
export function resourceName(type: ResourceType): string {
  return type.group === "" ? type.plural : `${type.plural}.${type.group}`;
}

/**
 * The REST path of a collection (no name) or one object. `namespace` undefined or "" means all
 * namespaces for a collection of a namespaced type.
 */
export function resourcePath(type: ResourceType, namespace?: string, name?: string): string {
  const base = type.group === "" ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  const scope = type.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  const object = name === undefined ? "" : `/${encodeURIComponent(name)}`;
  return `${base}${scope}/${type.plural}${object}`;
}

/** The REST path of one object given its key. */
export function objectPath(type: ResourceType, key: ObjectKey): string {
  return resourcePath(type, type.namespaced ? key.namespace : undefined, key.name);
}

function core(kind: string, plural: string, namespaced = true): ResourceType {
  return { group: "", version: "v1", kind, plural, namespaced };
}

/** The resource types of the JUDE API and the Kubernetes kinds the controllers use. */
export const resourceTypes = {
  embeddingModel: {
    group: "jude.dev",
    version: "v1alpha1",
    kind: "EmbeddingModel",
    plural: "embeddingmodels",
    namespaced: true,
  },
  nearlinePipeline: {
    group: "jude.dev",
    version: "v1alpha1",
    kind: "NearlinePipeline",
    plural: "nearlinepipelines",
    namespaced: true,
  },
  bootstrapRun: {
    group: "jude.dev",
    version: "v1alpha1",
    kind: "BootstrapRun",
    plural: "bootstrapruns",
    namespaced: true,
  },
  configMap: core("ConfigMap", "configmaps"),
  secret: core("Secret", "secrets"),
  service: core("Service", "services"),
  pod: core("Pod", "pods"),
  persistentVolumeClaim: core("PersistentVolumeClaim", "persistentvolumeclaims"),
  event: core("Event", "events"),
  namespace: core("Namespace", "namespaces", false),
  node: core("Node", "nodes", false),
  deployment: { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true },
  job: { group: "batch", version: "v1", kind: "Job", plural: "jobs", namespaced: true },
  podDisruptionBudget: {
    group: "policy",
    version: "v1",
    kind: "PodDisruptionBudget",
    plural: "poddisruptionbudgets",
    namespaced: true,
  },
  horizontalPodAutoscaler: {
    group: "autoscaling",
    version: "v2",
    kind: "HorizontalPodAutoscaler",
    plural: "horizontalpodautoscalers",
    namespaced: true,
  },
  lease: { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true },
} as const satisfies Record<string, ResourceType>;

/** The type of a Kubernetes object by its apiVersion and kind, when the table knows it. */
export function typeOfObject(apiVersion: string, kind: string): ResourceType | undefined {
  return Object.values(resourceTypes).find((type) => apiVersionOf(type) === apiVersion && type.kind === kind);
}
