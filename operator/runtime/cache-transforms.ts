// What the shared cache keeps of each object, by resource: the informers drop the parts no controller
// reads before storing an object (client-go's SetTransform). Pods keep their metadata, node, status
// (the pipelines read worker addresses and readiness) and the names of the ConfigMaps they mount (a
// config ConfigMap a pod mounts is never collected: controllers/shared/config-map-names.ts);
// operator-made ConfigMaps keep no data (it is rendered, applied and hashed from the spec, never read
// back); Deployments keep everything but the pod spec of their template (controllers read replicas,
// generation, annotations and status). With
// 200 models and 200 pipelines this is most of the cache. Jobs are kept whole: a BootstrapRun sends
// back the spec the server holds, and tells the store its shards write to from the Job's annotations
// (the shards' ConfigMap says it too, but its data is dropped).
import type { KubeObject } from "./types.ts";

/** A cache transform: the part of an object worth keeping. Pure; never mutates its input. */
export type CacheTransform = (object: KubeObject) => KubeObject;

type Loose = KubeObject & { spec?: Record<string, unknown>; status?: unknown };

type Volume = { name?: unknown; configMap?: { name?: unknown } };

const slimPod: CacheTransform = (object) => {
  const { spec, ...rest } = object as Loose;
  const nodeName = spec?.nodeName;
  const volumes = ((spec?.volumes ?? []) as Volume[]).flatMap((volume) =>
    volume.configMap === undefined ? [] : [{ name: volume.name, configMap: { name: volume.configMap.name } }],
  );
  const slim = {
    ...(nodeName !== undefined ? { nodeName } : {}),
    ...(volumes.length > 0 ? { volumes } : {}),
  };
  return { ...rest, ...(Object.keys(slim).length > 0 ? { spec: slim } : {}) } as KubeObject;
};

const withoutData: CacheTransform = (object) => {
  const {
    data: _data,
    binaryData: _binaryData,
    ...rest
  } = object as KubeObject & {
    data?: unknown;
    binaryData?: unknown;
  };
  return rest;
};

const slimDeployment: CacheTransform = (object) => {
  const loose = object as Loose;
  const template = loose.spec?.template as { metadata?: unknown } | undefined;
  if (template === undefined) return object;
  return { ...loose, spec: { ...loose.spec, template: { metadata: template.metadata } } } as KubeObject;
};

/** Transforms by resource name (resourceName(): plural, then group). */
export const cacheTransforms: Readonly<Record<string, CacheTransform>> = {
  pods: slimPod,
  configmaps: withoutData,
  "deployments.apps": slimDeployment,
};
