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
