// Which EmbeddingModel may act on a store. Two models whose pipelines name the same store (same Redis,
// same prefix) would flip one pointer and garbage-collect each other's versions, so exactly one owns
// it: the model named in the store's owner record `{P}:owner` (store/owner.ts). The record, not the
// API server, is the truth because the store is what the models share: it survives operator
// restarts, and two operators watching different namespaces of one Redis agree on it. The first model
// to reconcile claims an unowned store; ownership is never taken from a live owner that still names
// the store. It passes on only when the owner is gone (deleted), was recreated under its name (the
// new object takes it over), or no longer names this store (its pipelines moved to another store or
// were removed). Pure; the reads and the claim are the reconciler's.
import type { OwnerIdentity, StoreOwner } from "../../store/index.ts";

/** What a look-up of the recorded owner in the API server found. */
export type OwnerLookup =
  /** No object of that namespace/name exists. */
  | { state: "gone" }
  /** An object of that namespace/name exists with another uid (deleted and created again). */
  | { state: "recreated" }
  /** The owner exists, and its pipelines name another store or none. */
  | { state: "moved"; store: string | undefined }
  /** The owner exists and still names this store. */
  | { state: "present" }
  /** The owner could not be looked at (outside the operator's namespaces, no permission, an error). */
  | { state: "unknown"; reason: string };

/** The next step for a model that names an opened store. */
export type OwnershipStep =
  /** Nobody owns the store: claim it (set when absent). */
  | { action: "claim" }
  /** The model owns the store: act on it. */
  | { action: "own" }
  /** The recorded owner is stale: replace it (only if the record still names its uid). */
  | { action: "takeOver"; stale: StoreOwner; why: string }
  /** Another model owns the store: leave it alone. */
  | { action: "yield"; owner: StoreOwner; message: string };

/** Whether deciding needs a look-up of the recorded owner (it is another model's). */
export function needsOwnerLookup(self: OwnerIdentity, owner: StoreOwner | undefined): owner is StoreOwner {
  return owner !== undefined && owner.uid !== self.uid && !sameName(self, owner);
}

/** Decides the model's standing with the store `prefix`. `lookup` is required when needsOwnerLookup. */
export function decideOwnership(
  self: OwnerIdentity,
  prefix: string,
  owner: StoreOwner | undefined,
  lookup?: OwnerLookup,
): OwnershipStep {
  if (owner === undefined) return { action: "claim" };
  if (owner.uid === self.uid) return { action: "own" };
  // The same name with another uid: this model was deleted and created again (a GitOps re-sync); the
  // old object cannot exist beside it, so the store is its own again.
  if (sameName(self, owner))
    return { action: "takeOver", stale: owner, why: `its previous object (uid ${owner.uid}) is gone` };
  const named = ownerName(owner);
  switch (lookup?.state) {
    case "gone":
      return { action: "takeOver", stale: owner, why: `${named} no longer exists` };
    case "moved":
      return {
        action: "takeOver",
        stale: owner,
        why:
          lookup.store === undefined
            ? `${named} names no store any more`
            : `${named} now names store ${lookup.store}`,
      };
    case "recreated":
      return yieldTo(owner, prefix, `; ${named} was created again and takes it back`);
    case "unknown":
      return yieldTo(owner, prefix, ` (${named} could not be checked: ${lookup.reason})`);
    case "present":
    case undefined:
      return yieldTo(owner, prefix, "");
  }
}

/**
 * The owner status.storeConflict remembers for the store `prefix` in the Redis database `database`
 * (undefined when not known): none when it remembers another store, or the same name in another
 * database (a model kept off that followed its StoreConflict message and moved to another Redis under
 * the same store name finds that store empty, as one that lost its data is, but it is not the owner's).
 * A remembrance written before the database was noted matches any.
 */
export function rememberedOwner(
  conflict: { store: string; database?: string | undefined; owner: OwnerIdentity } | undefined,
  prefix: string,
  database: string | undefined,
): OwnerIdentity | undefined {
  if (conflict?.store !== prefix) return undefined;
  if (conflict.database !== undefined && database !== undefined && conflict.database !== database)
    return undefined;
  return conflict.owner;
}

/**
 * The step for a model that finds the store without an owner record while its status remembers
 * yielding it to `remembered` (status.storeConflict): the record went with the store's data (a Redis
 * restarted without persistence, flushed), not with its owner. Such a model claims the store only once
 * that owner no longer holds it as a live owner would (gone, or naming another store); otherwise the
 * owner, which its readers still use, claims it back at its next reconcile, and this model keeps off.
 * Without a remembered owner of this store, or when the store still has its pointer (only the owner
 * record was deleted, by hand: README, StoreConflict), an unowned store is claimed as usual.
 */
export function decideUnowned(
  self: OwnerIdentity,
  prefix: string,
  store: { remembered: OwnerIdentity | undefined; hasPointer: boolean },
  lookup?: OwnerLookup,
): OwnershipStep {
  const { remembered } = store;
  if (
    remembered === undefined ||
    store.hasPointer ||
    remembered.uid === self.uid ||
    sameName(self, remembered)
  )
    return { action: "claim" };
  const owner: StoreOwner = { ...remembered, claimedAtMs: null };
  const lost = `; the store has no owner record (it lost its data), and ${ownerName(owner)} claims it back`;
  switch (lookup?.state) {
    case "gone":
    case "moved":
      return { action: "claim" };
    case "recreated":
      return yieldTo(owner, prefix, `${lost}: it was created again and names the store`);
    case "unknown":
      return yieldTo(owner, prefix, `${lost} (it could not be checked: ${lookup.reason})`);
    case "present":
    case undefined:
      return yieldTo(owner, prefix, lost);
  }
}

/** What the operator could see of the object named in the owner record. */
export interface OwnerSighting {
  /** The object of that namespace/name read live: its uid, or undefined when it does not exist. */
  liveUid: string | undefined;
  /** The store prefix its oldest pipeline names (undefined: none), when its namespace is watched. */
  store?: { prefix: string | undefined } | undefined;
}

/** Classifies the recorded `owner` from what was seen of it; `prefix` is the contested store. Pure. */
export function classifyOwner(owner: StoreOwner, prefix: string, seen: OwnerSighting): OwnerLookup {
  if (seen.liveUid === undefined) return { state: "gone" };
  if (seen.store === undefined)
    return { state: "unknown", reason: `namespace ${owner.namespace} is not watched by this operator` };
  const namesStore = seen.store.prefix === prefix;
  // Recreated under the owner's name: it takes the store back only if it names it; otherwise the
  // recorded owner is simply gone.
  if (seen.liveUid !== owner.uid) return namesStore ? { state: "recreated" } : { state: "gone" };
  return namesStore ? { state: "present" } : { state: "moved", store: seen.store.prefix };
}

/** `namespace/name` of an owner. */
export function ownerName(owner: Pick<StoreOwner, "namespace" | "name">): string {
  return `${owner.namespace}/${owner.name}`;
}

function yieldTo(owner: StoreOwner, prefix: string, detail: string): OwnershipStep {
  return {
    action: "yield",
    owner,
    message:
      `store ${prefix} is owned by EmbeddingModel ${ownerName(owner)}${detail}; this model does not ` +
      `flip, garbage-collect or bootstrap it. Point this model's NearlinePipelines at another store, or ` +
      `delete ${ownerName(owner)}, and this model takes over by itself`,
  };
}

function sameName(a: OwnerIdentity, b: OwnerIdentity): boolean {
  return a.namespace === b.namespace && a.name === b.name;
}
