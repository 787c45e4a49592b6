/**
 * The store's owner `{P}:owner`: the one EmbeddingModel (namespace, name, uid) that flips the pointer,
 * garbage-collects versions and starts bootstraps in this store. Two models whose pipelines name the
 * same store (same Redis, same prefix) would otherwise flip and collect each other's versions.
 *
 * The record lives in the store itself, not in the API server, because the store is what the models
 * share: it survives operator restarts and leader changes, and two operators (one per namespace)
 * pointed at the same Redis see the same owner. It is claimed once with a script (set when absent)
 * and changes hands only by replacing a named stale owner (compare-and-set on its uid), so of two
 * claimants only one ever wins. Whether an owner is stale is the operator's decision
 * (controllers/embedding-model/store-ownership.ts); this file only reads and claims.
 */

import { runControl } from "./control.ts";
import type { Store } from "./store.ts";
import { recordFailure } from "./store.ts";

/** Who owns a store. */
export interface StoreOwner {
  readonly namespace: string;
  readonly name: string;
  /** metadata.uid of the owning object: a model deleted and recreated under its name is another one. */
  readonly uid: string;
  /** When this owner claimed the store (server clock), null if unknown. */
  readonly claimedAtMs: number | null;
}

/** A claimant: the identity written to the owner record. */
export type OwnerIdentity = Pick<StoreOwner, "namespace" | "name" | "uid">;

/** What a claim found: whether the claimant owns the store now, and the owner after the call. */
export interface ClaimResult {
  readonly claimed: boolean;
  readonly owner: StoreOwner;
}

/** The store's owner, or undefined when nobody has claimed it. */
export async function readOwner(store: Store): Promise<StoreOwner | undefined> {
  let fields: Record<string, string>;
  try {
    fields = await store.client.hgetall(store.keys.owner);
  } catch (error) {
    throw recordFailure(store, "read owner", error);
  }
  if (!fields["uid"]) return undefined;
  return ownerOf([
    fields["namespace"] ?? "",
    fields["name"] ?? "",
    fields["uid"],
    fields["claimed_at_ms"] ?? "",
  ]);
}

/**
 * Claims the store for `claimant`: succeeds when nobody owns it, when `claimant` already does, or when
 * the owner is still `replaceUid` (a stale owner the caller decided to replace). Otherwise nothing
 * changes and the result names the owner that holds it.
 */
export async function claimOwner(
  store: Store,
  claimant: OwnerIdentity,
  options: { replaceUid?: string } = {},
): Promise<ClaimResult> {
  if (claimant.uid === "") throw new Error("a store owner needs a uid");
  const { values } = await runControl(store, "claim owner", "judeStoreClaimOwner", [
    store.keys.owner,
    claimant.namespace,
    claimant.name,
    claimant.uid,
    options.replaceUid ?? "",
  ]);
  const [outcome, ...owner] = values;
  return { claimed: outcome === "claimed", owner: ownerOf(owner) };
}

function ownerOf([namespace, name, uid, claimedAt]: readonly (string | undefined)[]): StoreOwner {
  const claimedAtMs = Number(claimedAt);
  return {
    namespace: namespace ?? "",
    name: name ?? "",
    uid: uid ?? "",
    claimedAtMs: claimedAt && Number.isSafeInteger(claimedAtMs) ? claimedAtMs : null,
  };
}
