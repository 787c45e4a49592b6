// Operator-wide placement of every workload pod it renders (serving, nearline workers, bootstrap
// shards): a default node selector and tolerations from the operator's configuration, merged with what
// a resource asks for itself. Platform teams use it to keep JUDE on a dedicated, tainted node pool
// without repeating the toleration in every resource (NearlinePipeline and BootstrapRun have no
// scheduling fields of their own); the testbed uses it to run the pods on its local nodes. The same
// defaults name the ServiceAccount the pods run as, for clusters that forbid the `default` one.
import type { V1PodSpec, V1Toleration } from "@kubernetes/client-node";
import { isDeepStrictEqual } from "node:util";

/** The operator's default scheduling constraints for workload pods. */
export interface WorkloadPlacement {
  /** Labels every workload pod's node must carry (a resource's own selector wins per key). */
  nodeSelector: Readonly<Record<string, string>>;
  /** Tolerations added to every workload pod (after the resource's own). */
  tolerations: readonly V1Toleration[];
  /**
   * ServiceAccount every workload pod runs as (it must exist in the pod's namespace); the namespace's
   * `default` when absent. The pods never mount its token: none of them calls the Kubernetes API.
   */
  serviceAccountName?: string | undefined;
}

/** No defaults: pods are scheduled by their own spec only. */
export const noPlacement: WorkloadPlacement = { nodeSelector: {}, tolerations: [] };

/**
 * `podSpec` with the operator's defaults merged in. The pod's own node selector wins on a shared key
 * (the resource is more specific than the operator); tolerations are the pod's followed by each
 * default the pod does not already carry. A field that neither sets stays absent, so rendered objects
 * without defaults are unchanged. Pure; returns a new spec.
 */
export function placePod(podSpec: V1PodSpec, placement: WorkloadPlacement = noPlacement): V1PodSpec {
  const nodeSelector = { ...placement.nodeSelector, ...podSpec.nodeSelector };
  const own = podSpec.tolerations ?? [];
  const added = placement.tolerations.filter(
    (toleration) => !own.some((existing) => isDeepStrictEqual(existing, toleration)),
  );
  const tolerations = [...own, ...added];
  const { nodeSelector: _selector, tolerations: _tolerations, ...rest } = podSpec;
  return {
    ...rest,
    ...(placement.serviceAccountName === undefined
      ? {}
      : { serviceAccountName: placement.serviceAccountName }),
    ...(podSpec.nodeSelector !== undefined || Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}),
    ...(podSpec.tolerations !== undefined || tolerations.length > 0 ? { tolerations } : {}),
  };
}
