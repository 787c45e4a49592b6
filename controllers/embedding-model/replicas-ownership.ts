// Who sizes a version's serving Deployment: the spec (`serving.replicas`) or its HPA
// (`serving.autoscaling`), and the hand-over between them when the spec switches.
//
// To the HPA: the controller's apply stops setting spec.replicas. Server-side apply then removes a
// field nobody else holds, and the Deployment would fall back to its default of 1 replica (killing
// all but one serving pod) until the HPA raises it again. So the current value is first applied under
// a second field manager, as the Kubernetes documentation describes ("transferring ownership"): the
// field keeps its value, and the HPA takes it over with its first scale.
// Back to the spec: the HPA the spec no longer asks for is deleted before the fixed size is applied,
// or it would keep resizing the Deployment against the spec.
import type { V1Deployment } from "@kubernetes/client-node";
import type { EmbeddingModel } from "../../crds/index.ts";
import { hasStatus } from "../../operator/runtime/api-error.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext } from "../../operator/runtime/types.ts";
import { childLabels, labelKeys } from "../shared/labels.ts";
import { servingName } from "../shared/names.ts";

/** The field manager that holds replicas while they pass to the HPA. */
export function replicasHandoverManager(fieldManager: string): string {
  return `${fieldManager}-replicas-handover`;
}

/**
 * Before `deployment` (as rendered) is applied: when it leaves replicas to the HPA and already exists
 * with some replicas, holds its current replicas under the hand-over manager.
 */
export async function holdReplicasForAutoscaler(
  context: ReconcileContext,
  deployment: V1Deployment,
): Promise<void> {
  if (deployment.spec?.replicas !== undefined) return;
  const key = { namespace: context.key.namespace, name: deployment.metadata?.name ?? "" };
  const current = context.cache.get<V1Deployment & KubeObject>(resourceTypes.deployment, key);
  const replicas = current?.spec?.replicas;
  if (replicas === undefined) return; // not created yet: nothing to keep
  // Zero is not held, and a zero held before is let go (an applied config without the field): the
  // HPA never scales a target at 0 replicas (ScalingDisabled), so a version scaled to zero would stay
  // without a server. Released, the field falls back to the Deployment's default of 1 and the HPA
  // raises it to minReplicas. (A zero set by `kubectl scale` while the HPA runs, which is how
  // Kubernetes pauses autoscaling, belongs to kubectl's manager and stays.)
  try {
    await context.client.apply(
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: key.name, namespace: key.namespace },
        ...(replicas === 0 ? {} : { spec: { replicas } }),
      },
      { fieldManager: replicasHandoverManager(context.client.fieldManager) },
    );
  } catch (error) {
    // Another manager (the HPA) set a different value meanwhile: it holds the field, which is all
    // the hand-over is for.
    if (!hasStatus(error, 409)) throw error;
  }
}

/** Deletes the HPA of a served version whose spec has no autoscaling (any more). */
export async function deleteDroppedAutoscaler(
  context: ReconcileContext,
  model: EmbeddingModel,
  embeddingVersion: string,
): Promise<void> {
  const key = {
    namespace: context.key.namespace,
    name: servingName(model.metadata.name, embeddingVersion),
  };
  const autoscaler = context.cache.get(resourceTypes.horizontalPodAutoscaler, key);
  const controlled = autoscaler?.metadata?.ownerReferences?.some(
    (owner) => owner.controller === true && owner.uid === model.metadata.uid,
  );
  if (controlled !== true) return;
  context.log.info(
    { version: embeddingVersion, child: key.name },
    "deleting the HPA autoscaling no longer asks for",
  );
  await context.client.delete(resourceTypes.horizontalPodAutoscaler, key);
}

/**
 * While readers move to the spec's version, its HPA keeps at least as many replicas as the model's
 * other served versions run: the active one, which its HPA scaled out for the readers' load, and after
 * the switch the one they left, until it goes. At its own minReplicas the new version would take every
 * reader with a few servers until its HPA noticed the load and new pods started (minutes with GPUs and
 * a model to fetch). Undefined without autoscaling or when no other version is served.
 */
export function replicasFloor(context: ReconcileContext, model: EmbeddingModel): number | undefined {
  if (model.spec.serving.autoscaling === undefined) return undefined;
  const others = context.cache
    .list<V1Deployment & KubeObject>(resourceTypes.deployment, {
      namespace: context.key.namespace,
      labels: childLabels("serving", { model: model.metadata.name }).selector,
    })
    .filter(
      (deployment) =>
        deployment.metadata?.labels?.[labelKeys.embeddingVersion] !== model.spec.version &&
        deployment.metadata?.deletionTimestamp === undefined &&
        deployment.metadata?.ownerReferences?.some(
          (owner) => owner.controller === true && owner.uid === model.metadata.uid,
        ) === true,
    );
  if (others.length === 0) return undefined;
  return Math.max(...others.map((deployment) => deployment.spec?.replicas ?? 1));
}
