// The agent's view of cluster data for pods: ConfigMap and Secret contents from the watch caches,
// PersistentVolumeClaim folders, and ServiceAccount tokens from the TokenRequest API (renewed at 80%
// of their lifetime, as the kubelet renews them).
import type {
  V1ConfigMap,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Pod,
  V1Secret,
} from "@kubernetes/client-node";
import { ContainerConfigError } from "./container-process.ts";
import type { KubeApi } from "./kube-api.ts";
import type { ResourceCache } from "./resource-cache.ts";
import type { VolumeSources } from "./volumes.ts";

/** Volume sources backed by the caches and the API. */
export function clusterVolumeSources(
  api: KubeApi,
  configMaps: ResourceCache<V1ConfigMap>,
  secrets: ResourceCache<V1Secret>,
): VolumeSources {
  const tokens = new Map<string, { token: string; renewAtMs: number }>();
  return {
    configMap: (namespace, name) => configMapBytes(configMaps.get(`${namespace}/${name}`)),
    secret: (namespace, name) => secretBytes(secrets.get(`${namespace}/${name}`)),
    async claimPath(namespace, claim) {
      const pvc = await api.get<V1PersistentVolumeClaim>(
        `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${claim}`,
      );
      if (pvc === undefined) throw new ContainerConfigError(`persistentvolumeclaim "${claim}" not found`);
      const volumeName = pvc.spec?.volumeName;
      if (pvc.status?.phase !== "Bound" || volumeName === undefined) {
        throw new ContainerConfigError(
          `persistentvolumeclaim "${claim}" is not bound to a PersistentVolume yet`,
        );
      }
      const volume = await api.get<V1PersistentVolume>(`/api/v1/persistentvolumes/${volumeName}`);
      const path = volume?.spec?.hostPath?.path ?? volume?.spec?.local?.path;
      if (path === undefined) {
        throw new ContainerConfigError(
          `PersistentVolume "${volumeName}" has no hostPath or local path, the only kinds local nodes mount`,
        );
      }
      return path;
    },
    async token(pod: V1Pod, audience: string | undefined, expirationSeconds: number) {
      const key = `${pod.metadata?.uid}/${audience ?? ""}/${expirationSeconds}`;
      const cached = tokens.get(key);
      if (cached !== undefined && Date.now() < cached.renewAtMs) return cached.token;
      const namespace = pod.metadata?.namespace ?? "default";
      const account = pod.spec?.serviceAccountName ?? "default";
      const response = await api.send<{ status: { token: string; expirationTimestamp: string } }>(
        "POST",
        `/api/v1/namespaces/${namespace}/serviceaccounts/${account}/token`,
        {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: {
            audiences: audience === undefined || audience === "" ? [] : [audience],
            expirationSeconds,
            boundObjectRef: {
              apiVersion: "v1",
              kind: "Pod",
              name: pod.metadata?.name,
              uid: pod.metadata?.uid,
            },
          },
        },
      );
      const lifetimeMs = Date.parse(response.status.expirationTimestamp) - Date.now();
      tokens.set(key, { token: response.status.token, renewAtMs: Date.now() + lifetimeMs * 0.8 });
      return response.status.token;
    },
  };
}

/** ConfigMap data and binaryData as bytes. */
export function configMapBytes(configMap: V1ConfigMap | undefined): Record<string, Buffer> | undefined {
  if (configMap === undefined) return undefined;
  return {
    ...Object.fromEntries(
      Object.entries(configMap.data ?? {}).map(([key, value]) => [key, Buffer.from(value)]),
    ),
    ...Object.fromEntries(
      Object.entries(configMap.binaryData ?? {}).map(([key, value]) => [key, Buffer.from(value, "base64")]),
    ),
  };
}

/** Secret data (base64 on the wire) as bytes. */
export function secretBytes(secret: V1Secret | undefined): Record<string, Buffer> | undefined {
  if (secret === undefined) return undefined;
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, "base64")]),
  );
}

/** Bytes as text, for environment variables. */
export function asText(data: Record<string, Buffer> | undefined): Record<string, string> | undefined {
  return data === undefined
    ? undefined
    : Object.fromEntries(Object.entries(data).map(([key, value]) => [key, value.toString("utf8")]));
}
