// Labels and annotations on every object the operator creates: the app.kubernetes.io set that tools
// understand, plus jude.dev keys that selectors and the kubectl plugin rely on.
import { labelValue } from "./names.ts";

export const labelKeys = {
  name: "app.kubernetes.io/name",
  component: "app.kubernetes.io/component",
  instance: "app.kubernetes.io/instance",
  managedBy: "app.kubernetes.io/managed-by",
  partOf: "app.kubernetes.io/part-of",
  model: "jude.dev/model",
  embeddingVersion: "jude.dev/version",
  pipeline: "jude.dev/pipeline",
  bootstrapRun: "jude.dev/bootstrap-run",
  /** On a content-addressed config ConfigMap: the workload it configures (config-map-names.ts). */
  configOf: "jude.dev/config-of",
} as const;

export const annotationKeys = {
  /** sha256 of the rendered config in a pod template, so a config change rolls the pods. */
  configHash: "jude.dev/config-hash",
  /**
   * In a worker or serving pod template: for each Secret the pods read only at start, what they read of
   * it (a digest of the files, or the resourceVersion of a Secret read as env values: secretStampsOf in
   * secret-wiring.ts), so a rotated password, a store URL pointing elsewhere or a new CA rolls the pods
   * and a write that changes nothing they read does not.
   */
  secretVersions: "jude.dev/secret-versions",
  /** On a bootstrap Job: the store name its shards write to (bootstrap-run/run-store.ts). */
  store: "jude.dev/store",
  /** On a bootstrap Job: where that store is, `redis://host:port/db` or `redis-cluster://host:port,…`, without credentials. */
  storeEndpoint: "jude.dev/store-endpoint",
} as const;

/** The value of app.kubernetes.io/managed-by on everything the operator owns. */
export const managedBy = "jude-operator";

/** What a workload does. */
export type Component = "serving" | "nearline" | "bootstrap" | "version-record";

/** Labels of a child object; `selector` is the stable subset used in label selectors. */
export function childLabels(
  component: Component,
  owner: { model: string; embeddingVersion?: string; pipeline?: string; bootstrapRun?: string },
): { labels: Record<string, string>; selector: Record<string, string> } {
  const selector: Record<string, string> = {
    [labelKeys.name]: "jude",
    [labelKeys.component]: component,
    [labelKeys.model]: labelValue(owner.model),
  };
  if (owner.pipeline !== undefined) selector[labelKeys.pipeline] = labelValue(owner.pipeline);
  if (owner.bootstrapRun !== undefined) selector[labelKeys.bootstrapRun] = labelValue(owner.bootstrapRun);
  if (owner.embeddingVersion !== undefined) selector[labelKeys.embeddingVersion] = owner.embeddingVersion;
  return {
    selector,
    labels: {
      ...selector,
      [labelKeys.instance]: labelValue(owner.pipeline ?? owner.bootstrapRun ?? owner.model),
      [labelKeys.managedBy]: managedBy,
      [labelKeys.partOf]: "jude",
    },
  };
}
