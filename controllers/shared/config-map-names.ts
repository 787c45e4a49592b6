// Content-addressed config ConfigMaps. A workload's rendered config lives in a ConfigMap named after
// the workload and the hash of its content, never updated in place: a pod whose container restarts
// (crash, OOM, liveness) before a rollout finishes reads again exactly the config its pod was made
// with, not one written for a newer template (a key its older release does not know would make its
// strict config parser refuse to start, and every old pod that restarts while a new ReplicaSet is
// stuck would die). A rollback renders the old content again, so it gets the old name back (and the
// old pods their config). What a rollout leaves behind is collected once nothing can mount it (the
// pattern of Kustomize's configMapGenerator).
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { ReconcileContext } from "../../operator/runtime/types.ts";
import { labelKeys } from "./labels.ts";
import { labelValue } from "./names.ts";

/** How many hex digits of the content hash a config ConfigMap's name carries. */
export const configNameHashLength = 10;

/**
 * The name of the ConfigMap holding the config whose sha256 is `configHash`, for the workload `base`
 * (a childName, at most 63 characters: the result is at most 74, a valid DNS subdomain).
 */
export function configMapName(base: string, configHash: string): string {
  return `${base}-${configHash.slice(0, configNameHashLength)}`;
}

/** The labels of a config ConfigMap: the workload's, and which workload it configures. */
export function configOwnerLabels(labels: Record<string, string>, base: string): Record<string, string> {
  return { ...labels, [labelKeys.configOf]: labelValue(base) };
}

/**
 * The config ConfigMaps to delete among `existing` (the workload's, the legacy un-suffixed one of an
 * older release included): none while an older ReplicaSet may still make pods (`settled` false: the
 * pods it would make mount its config), and never the current one or one an existing pod mounts.
 * Pure.
 */
export function supersededConfigMaps(input: {
  current: string;
  existing: readonly string[];
  mounted: ReadonlySet<string>;
  settled: boolean;
}): string[] {
  if (!input.settled) return [];
  return input.existing.filter((name) => name !== input.current && !input.mounted.has(name));
}

/** What rolloutSettled reads of a Deployment. */
export interface DeploymentRollout {
  metadata?: { generation?: number | undefined } | undefined;
  spec?: { replicas?: number | undefined; paused?: boolean | undefined } | undefined;
  status?:
    | {
        observedGeneration?: number | undefined;
        replicas?: number | undefined;
        updatedReplicas?: number | undefined;
        availableReplicas?: number | undefined;
      }
    | undefined;
}

interface PodVolumes {
  spec?: { volumes?: readonly { configMap?: { name?: string } }[] };
  status?: { phase?: string };
}

/**
 * The ConfigMaps the given pods mount: every pod that exists, terminating ones too, but those that
 * ended (Failed or Succeeded: an evicted pod stays, Failed, until the pod GC deletes it, possibly never)
 * run no container again, so their config would only be kept for nothing.
 */
export function mountedConfigMaps(pods: readonly PodVolumes[]): Set<string> {
  return new Set(
    pods
      .filter((pod) => pod.status?.phase !== "Failed" && pod.status?.phase !== "Succeeded")
      .flatMap((pod) => (pod.spec?.volumes ?? []).flatMap((volume) => volume.configMap?.name ?? [])),
  );
}

/**
 * Whether a Deployment's rollout is over (kubectl rollout status's test): its controller saw the
 * latest template, all replicas run it and are available, and no pod of an older template is left, so
 * no older ReplicaSet keeps replicas that it could make again with its config. Never while paused: a
 * paused Deployment makes no ReplicaSet for a new template, and scaled up it gives the replicas to its
 * newest older ReplicaSet, whose pods mount that one's config.
 */
export function rolloutSettled(deployment: DeploymentRollout | undefined): boolean {
  if (deployment === undefined || deployment.spec?.paused === true) return false;
  const status = deployment.status ?? {};
  const generation = deployment.metadata?.generation ?? 0;
  const updated = status.updatedReplicas ?? 0;
  return (
    (status.observedGeneration ?? 0) >= generation &&
    updated >= (deployment.spec?.replicas ?? 1) &&
    (status.replicas ?? 0) === updated &&
    (status.availableReplicas ?? 0) === updated
  );
}

/**
 * Deletes the config ConfigMaps of workload `base` (owned by `ownerUid`) that `supersededConfigMaps`
 * gives up: those labelled as its config, and the ConfigMap named `base` itself that releases before
 * content addressing mounted, if it carries the workload's `selector` labels and is no workload's
 * content-addressed config (a name can be another object's: a version is any DNS label, and serving
 * `<model>-<version>` of version `v1-record` is the name of version v1's record). `deployment` is the
 * workload as the server last returned it (its status says whether the rollout is over); `pods` are
 * the workload's pods from the cache, which keeps their ConfigMap volumes. Idempotent; a ConfigMap
 * already gone is no error.
 */
export async function deleteSupersededConfigMaps(
  context: ReconcileContext,
  workload: {
    namespace: string;
    base: string;
    current: string;
    ownerUid: string | undefined;
    /** The labels every object of the workload carries (its pods' selector). */
    selector: Readonly<Record<string, string>>;
    deployment: DeploymentRollout | undefined;
    pods: readonly PodVolumes[];
  },
): Promise<void> {
  const { namespace, base } = workload;
  const labelled = context.cache.list(resourceTypes.configMap, {
    namespace,
    labels: { [labelKeys.configOf]: labelValue(base) },
  });
  const named = context.cache.get(resourceTypes.configMap, { namespace, name: base });
  const labels = named?.metadata?.labels ?? {};
  const legacy =
    named !== undefined &&
    labels[labelKeys.configOf] === undefined &&
    Object.entries(workload.selector).every(([key, value]) => labels[key] === value)
      ? [named]
      : [];
  const existing = [...labelled, ...legacy]
    .filter((object) => object.metadata?.ownerReferences?.some((owner) => owner.uid === workload.ownerUid))
    .map((object) => object.metadata?.name ?? "");
  const superseded = supersededConfigMaps({
    current: workload.current,
    existing: [...new Set(existing)],
    mounted: mountedConfigMaps(workload.pods),
    settled: rolloutSettled(workload.deployment),
  });
  for (const name of superseded) {
    context.log.info({ configMap: name }, "deleting a superseded config ConfigMap no pod mounts");
    await context.client.delete(resourceTypes.configMap, { namespace, name });
  }
}
