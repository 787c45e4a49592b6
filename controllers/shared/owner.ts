// Owner references: every child points at the JUDE object it was made for, so deleting that object
// garbage-collects the child, and watch events on the child map back to it.
import type { V1OwnerReference } from "@kubernetes/client-node";
import { apiVersion } from "../../crds/index.ts";

/** The fields of a JUDE object an owner reference needs. */
export interface OwnerObject {
  kind: string;
  metadata: { name: string; uid?: string };
}

/** The controlling owner reference to a JUDE object (blockOwnerDeletion for foreground deletion). */
export function controllerRef(owner: OwnerObject): V1OwnerReference {
  if (owner.metadata.uid === undefined)
    throw new Error(`${owner.kind} ${owner.metadata.name} has no uid; only stored objects can own children`);
  return {
    apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * True for an object no owner controls: a child its JUDE object left when deleted with `kubectl delete
 * --cascade=orphan` (the garbage collector removed the owner references). The object applied again
 * adopts it, or deletes it with what it no longer keeps.
 */
export function isOrphaned(object: {
  metadata?: { ownerReferences?: readonly { controller?: boolean }[] | undefined } | undefined;
}): boolean {
  return !(object.metadata?.ownerReferences ?? []).some((owner) => owner.controller === true);
}

/**
 * How a controller applies a child it owns: forced. The controller is the sole author of every field
 * it sets on its children (they are rendered from the spec, the source of truth), so a field someone
 * changed by hand (`kubectl scale`, `kubectl set image`, `kubectl edit`) is taken back to the spec.
 * Without force the apply fails with a 409 conflict on every reconcile from then on and the resource
 * stops converging while its status still shows the last outcome (the Kubernetes documentation advises
 * controllers to force for this reason). Fields the controller does not set (the replicas an HPA
 * owns, `kubectl rollout restart`'s annotation, other managers' labels) are left alone.
 */
export const childApply = { force: true } as const;
