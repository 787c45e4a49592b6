// Work-queue keys: "namespace/name" strings (the form controller-runtime and client-go use), so the
// queue can merge repeated events for one object with a plain Set.
import type { KubeObject, ObjectKey } from "./types.ts";

/** "namespace/name" ("name" alone for cluster-scoped objects). */
export function keyToString(key: ObjectKey): string {
  return key.namespace === "" ? key.name : `${key.namespace}/${key.name}`;
}

/** Inverse of keyToString. */
export function keyFromString(text: string): ObjectKey {
  const slash = text.indexOf("/");
  return slash < 0
    ? { namespace: "", name: text }
    : { namespace: text.slice(0, slash), name: text.slice(slash + 1) };
}

/** The key of an object; throws when it has no name (only stored objects have keys). */
export function keyOf(object: KubeObject): ObjectKey {
  const name = object.metadata?.name;
  if (name === undefined || name === "")
    throw new Error(`${object.kind ?? "object"} without metadata.name has no key`);
  return { namespace: object.metadata?.namespace ?? "", name };
}

/**
 * The key of the object's controlling owner when that owner is of `ownerKind` in group `ownerGroup`:
 * how an event on a child (Deployment, Job, ...) becomes a reconcile of its JUDE object.
 */
export function controllerOwnerKey(
  object: KubeObject,
  ownerGroup: string,
  ownerKind: string,
): ObjectKey | undefined {
  const owner = object.metadata?.ownerReferences?.find((reference) => reference.controller === true);
  if (owner === undefined || owner.kind !== ownerKind) return undefined;
  const group = owner.apiVersion.includes("/")
    ? owner.apiVersion.slice(0, owner.apiVersion.indexOf("/"))
    : "";
  if (group !== ownerGroup) return undefined;
  return { namespace: object.metadata?.namespace ?? "", name: owner.name };
}
