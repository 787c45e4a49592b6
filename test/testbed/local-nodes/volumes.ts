// Materialises a pod's volumes in host folders (ConfigMap, Secret, projected with the ServiceAccount
// token, downwardAPI, emptyDir incl. medium Memory, PersistentVolumeClaims, hostPath) and says where
// each container mounts them. Called at pod start and again periodically so updates reach the pod.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { V1Pod, V1Volume, V1VolumeProjection, V1KeyToPath } from "@kubernetes/client-node";
import { writeAtomically, type VolumeFile } from "./atomic-writer.ts";
import { applyFsGroup } from "./fs-group.ts";
import { ContainerConfigError, fieldValue } from "./container-process.ts";
import type { PodMount } from "./mount-plan.ts";

/** Where volume contents come from. */
export interface VolumeSources {
  configMap(namespace: string, name: string): Record<string, Buffer> | undefined;
  secret(namespace: string, name: string): Record<string, Buffer> | undefined;
  /** The host folder of a bound claim (its PersistentVolume's hostPath or local path). */
  claimPath(namespace: string, claim: string): Promise<string>;
  /** A ServiceAccount token bound to the pod, from the TokenRequest API (cached and renewed by the caller). */
  token(pod: V1Pod, audience: string | undefined, expirationSeconds: number): Promise<string>;
}

const defaultMode = 0o644;

/**
 * Writes or refreshes every volume of `pod` under `podDir/volumes/<name>` and returns the host folder
 * of each volume by name. Throws ContainerConfigError for a volume the pod cannot have yet.
 */
export async function syncVolumes(
  pod: V1Pod,
  podDir: string,
  sources: VolumeSources,
): Promise<Map<string, string>> {
  const paths = new Map<string, string>();
  for (const volume of pod.spec?.volumes ?? []) {
    paths.set(volume.name, await syncVolume(pod, volume, join(podDir, "volumes", volume.name), sources));
  }
  return paths;
}

async function syncVolume(
  pod: V1Pod,
  volume: V1Volume,
  dir: string,
  sources: VolumeSources,
): Promise<string> {
  const namespace = pod.metadata?.namespace ?? "default";
  const fsGroup = pod.spec?.securityContext?.fsGroup;
  if (volume.emptyDir !== undefined) {
    // Mode and fsGroup apply once, when the volume is made (later files are the containers' own
    // business); a chmod on every resync would drop the fsGroup's setgid bit.
    const created = !existsSync(dir);
    mkdirSync(dir, { recursive: true });
    if (created) chmodSync(dir, 0o777);
    if (volume.emptyDir.medium === "Memory") mountTmpfs(dir, String(volume.emptyDir.sizeLimit ?? "256Mi"));
    if (created && fsGroup !== undefined) applyFsGroup(dir, fsGroup, false);
    return dir;
  }
  if (volume.persistentVolumeClaim !== undefined) {
    return sources.claimPath(namespace, volume.persistentVolumeClaim.claimName);
  }
  if (volume.hostPath !== undefined) return volume.hostPath.path;
  const files = await volumeFiles(pod, volume, sources);
  if (writeAtomically(dir, files) && fsGroup !== undefined) applyFsGroup(dir, fsGroup, true);
  return dir;
}

async function volumeFiles(pod: V1Pod, volume: V1Volume, sources: VolumeSources): Promise<VolumeFile[]> {
  // A ConfigMap, Secret or downwardAPI volume is a projected volume with a single source.
  const projected = volume.projected ?? {
    defaultMode: (volume.configMap ?? volume.secret ?? volume.downwardAPI)?.defaultMode,
    sources: [
      volume.configMap !== undefined ? { configMap: volume.configMap } : undefined,
      volume.secret !== undefined
        ? { secret: { ...volume.secret, name: volume.secret.secretName } }
        : undefined,
      volume.downwardAPI !== undefined ? { downwardAPI: volume.downwardAPI } : undefined,
    ].filter((source) => source !== undefined),
  };
  if (projected.sources === undefined || projected.sources.length === 0) {
    const kind = Object.keys(volume).find((key) => key !== "name") ?? "unknown";
    throw new ContainerConfigError(`volume "${volume.name}" of type ${kind} is not supported on local nodes`);
  }
  const files: VolumeFile[] = [];
  for (const source of projected.sources) {
    files.push(...(await projection(pod, source, projected.defaultMode, sources)));
  }
  return files;
}

async function projection(
  pod: V1Pod,
  source: V1VolumeProjection,
  mode: number | undefined,
  sources: VolumeSources,
): Promise<VolumeFile[]> {
  const namespace = pod.metadata?.namespace ?? "default";
  if (source.configMap !== undefined) {
    const { name = "", items, optional } = source.configMap;
    return keyed("configmap", name, sources.configMap(namespace, name), items, mode, optional);
  }
  if (source.secret !== undefined) {
    const { name = "", items, optional } = source.secret;
    return keyed("secret", name, sources.secret(namespace, name), items, mode, optional);
  }
  if (source.downwardAPI !== undefined) return downward(pod, source.downwardAPI.items ?? [], mode);
  if (source.serviceAccountToken !== undefined) {
    const { path, audience, expirationSeconds } = source.serviceAccountToken;
    const token = await sources.token(pod, audience, expirationSeconds ?? 3600);
    return [{ path, content: Buffer.from(token), mode: mode ?? defaultMode }];
  }
  return [];
}

function keyed(
  kind: string,
  name: string,
  data: Record<string, Buffer> | undefined,
  items: readonly V1KeyToPath[] | undefined,
  mode: number | undefined,
  optional: boolean | undefined,
): VolumeFile[] {
  if (data === undefined) {
    if (optional === true) return [];
    throw new ContainerConfigError(`${kind} "${name}" not found`);
  }
  if (items === undefined) {
    return Object.entries(data).map(([key, content]) => ({ path: key, content, mode: mode ?? defaultMode }));
  }
  return items.flatMap((item) => {
    const content = data[item.key];
    if (content === undefined) {
      if (optional === true) return [];
      throw new ContainerConfigError(`couldn't find key ${item.key} in ${kind} ${name}`);
    }
    return [{ path: item.path, content, mode: item.mode ?? mode ?? defaultMode }];
  });
}

function downward(
  pod: V1Pod,
  items: readonly { path: string; mode?: number; fieldRef?: { fieldPath: string } }[],
  mode?: number,
): VolumeFile[] {
  return items
    .filter((item) => item.fieldRef !== undefined)
    .map((item) => ({
      path: item.path,
      content: Buffer.from(fieldValue(pod, item.fieldRef!.fieldPath)),
      mode: item.mode ?? mode ?? defaultMode,
    }));
}

function mountTmpfs(dir: string, size: string): void {
  try {
    // findmnt exits non-zero when nothing is mounted there yet.
    execFileSync("findmnt", ["--mountpoint", dir], { stdio: "ignore" });
  } catch {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${toBytes(size)},mode=0777`, "jude-emptydir", dir]);
  }
}

/** Kubernetes quantities (Mi, Gi, M, plain bytes) in bytes, for tmpfs sizes and memory limits. */
export function toBytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (match === null) throw new Error(`cannot read the quantity "${quantity}"`);
  const factors: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Math.round(Number(match[1]) * (factors[match[2] ?? ""] ?? 1));
}

/** Where each container sees its volumes: mountPath -> host folder (subPath honoured). */
export function containerMounts(
  container: { volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[] },
  volumePaths: ReadonlyMap<string, string>,
  isFile: (path: string) => boolean,
): PodMount[] {
  return (container.volumeMounts ?? []).map((mount) => {
    const base = volumePaths.get(mount.name);
    if (base === undefined)
      throw new ContainerConfigError(`volumeMount "${mount.name}" names no volume of the pod`);
    const source = mount.subPath !== undefined && mount.subPath !== "" ? join(base, mount.subPath) : base;
    return {
      target: mount.mountPath,
      source,
      kind: isFile(source) ? "file" : "dir",
      readOnly: mount.readOnly === true,
    };
  });
}
