// The reads and writes around store ownership (the decision is store-ownership.ts): read the store's
// owner record, look the recorded owner up when it is another model, claim or take over with the
// store's script, and, for a model that must stay off the store, say so in its status and an Event
// and stop its workers. A model in conflict touches nothing else: its serving objects, records and
// BootstrapRuns stay as they are until it owns a store again.
import {
  fromApiServer,
  safeParseNearlinePipeline,
  type EmbeddingModel,
  type EmbeddingModelStatus,
} from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { KubeObject, ReconcileContext } from "../../operator/runtime/types.ts";
import {
  claimOwner,
  defaultPrefix,
  readOwner,
  readPointer,
  type Store,
  type StoreOwner,
} from "../../store/index.ts";
import { conditionSays, findCondition } from "../shared/conditions.ts";
import { childApply } from "../shared/owner.ts";
import { writeVerdictKeepingStatus } from "../shared/status-writer.ts";
import { withApprovalAsSeen } from "./approval-kept.ts";
import { pipelinesOfModel } from "./model-store.ts";
import { readVersionRecords } from "./record-reader.ts";
import {
  classifyOwner,
  decideOwnership,
  decideUnowned,
  needsOwnerLookup,
  rememberedOwner,
  ownerName,
  type OwnerLookup,
  type OwnershipStep,
} from "./store-ownership.ts";
import { desiredVersionRecord } from "./version-record.ts";

/** The Ready reason of a model another model's store ownership keeps off its store. */
export const storeConflictReason = "StoreConflict";
/** How often a model in conflict looks again (the owner's deletion or move is not watched). */
export const storeConflictPollMs = 10_000;

/** The model's standing after claiming: it owns the store, or must leave it to `owner`. */
export type StoreStanding = { action: "own" } | Extract<OwnershipStep, { action: "yield" }>;

/** Claims `store` for `model` where the ownership rules allow it; says who owns it otherwise. */
export async function claimStore(
  context: ReconcileContext,
  model: EmbeddingModel,
  store: Store,
  /** The Redis database the store is in (store-target.ts targetDatabase), when known. */
  database?: string,
): Promise<StoreStanding> {
  const prefix = store.layout.prefix;
  const self = { namespace: context.key.namespace, name: model.metadata.name, uid: model.metadata.uid ?? "" };
  let owner = await readOwner(store);
  // The owner this model last yielded the store to, should the owner record have gone with the data.
  const remembered = rememberedOwner(model.status?.storeConflict, prefix, database);
  // Two rounds: a claim that loses a race is decided again against the winner.
  for (let round = 0; round < 2; round += 1) {
    // A store that lost its data has no pointer either; one whose owner record alone was deleted (by
    // hand, to hand it on) still has it. Without a record, the remembered owner is the one looked up.
    const hasPointer =
      owner === undefined && remembered !== undefined && (await readPointer(store)).current !== null;
    const looked =
      owner ?? (remembered !== undefined && !hasPointer ? { ...remembered, claimedAtMs: null } : undefined);
    const lookup = needsOwnerLookup(self, looked) ? await lookUpOwner(context, looked, prefix) : undefined;
    const step =
      owner === undefined
        ? decideUnowned(self, prefix, { remembered, hasPointer }, lookup)
        : decideOwnership(self, prefix, owner, lookup);
    if (step.action === "own" || step.action === "yield") return step;
    const replaceUid = step.action === "takeOver" ? step.stale.uid : undefined;
    context.fence?.(); // a store write: fenced like the API writes (operator/runtime/types.ts)
    const result = await claimOwner(store, self, replaceUid === undefined ? {} : { replaceUid });
    if (result.claimed) {
      const message =
        step.action === "takeOver"
          ? `took store ${prefix} over from EmbeddingModel ${ownerName(step.stale)}: ${step.why}`
          : `claimed store ${prefix}: this model alone flips, garbage-collects and bootstraps it`;
      context.log.info({ store: prefix }, message);
      context.events.normal(model, "StoreClaimed", message);
      return { action: "own" };
    }
    owner = result.owner;
  }
  // Lost two races in one reconcile: fail it, and the retry (with back-off) decides afresh.
  throw new Error(`store ${prefix} changed owners twice while this model claimed it; trying again`);
}

/** Finds whether the recorded owner still exists and still names the store `prefix`. */
async function lookUpOwner(
  context: ReconcileContext,
  owner: StoreOwner,
  prefix: string,
): Promise<OwnerLookup> {
  const key = { namespace: owner.namespace, name: owner.name };
  let live;
  try {
    // Live: a cache that has not seen the owner yet must not make it look deleted.
    live = await context.client.getLive(resourceTypes.embeddingModel, key);
  } catch (error) {
    return { state: "unknown", reason: (error as Error).message };
  }
  // Its pipelines are read from the cache, which covers the owner's namespace only if this operator
  // watches it (and has seen the model); outside, the owner is assumed to still use the store.
  const watched = context.cache.get(resourceTypes.embeddingModel, key) !== undefined;
  const [first] = watched
    ? pipelinesOfModel(context, owner.name, owner.namespace).flatMap((object) => {
        const parsed = safeParseNearlinePipeline(object, fromApiServer);
        return parsed.success ? [parsed.data] : [];
      })
    : [];
  // The same rule as openModelStore: a model's store is its oldest pipeline's. A prefix equal to ours
  // on another Redis URL still counts as ours (the URLs may name one server in two ways).
  return classifyOwner(owner, prefix, {
    liveUid: live === undefined ? undefined : (live.metadata?.uid ?? ""),
    store: watched ? { prefix: first && defaultPrefix(first.spec.sinks.store.name) } : undefined,
  });
}

/**
 * What a model kept off its store does: status Stalled with reason StoreConflict, a Warning Event when
 * it enters (or its message changes), and its version records no longer asking for workers, so its
 * pipelines do not write into the other model's store.
 */
export async function stayOffStore(
  context: ReconcileContext,
  model: EmbeddingModel,
  standing: Extract<StoreStanding, { action: "yield" }>,
  prefix: string,
  database?: string,
): Promise<void> {
  for (const record of await readVersionRecords(context, model.metadata, [])) {
    if (record.workers !== true) continue;
    context.log.info({ version: record.version }, "stopping the workers of a model in a store conflict");
    await context.client.apply(desiredVersionRecord(model, { ...record, workers: false }), childApply);
  }
  const previous: EmbeddingModelStatus | undefined = model.status;
  const verdict = { state: "Stalled" as const, reason: storeConflictReason, message: standing.message };
  // The owner is remembered in the status (the next complete status write, once this model owns a
  // store, drops it): the owner record can be lost with the store's data, and then the owner, not the
  // model that happens to reconcile first, is the one to claim the store again.
  const { namespace, name, uid } = standing.owner;
  const storeConflict = {
    store: prefix,
    ...(database !== undefined ? { database } : {}),
    owner: { namespace, name, uid },
  };
  // An approval removed from the spec meanwhile is forgotten, as a reconcile that decides forgets it.
  const remembering = { ...model, status: { ...model.status, storeConflict } };
  await writeVerdictKeepingStatus(
    context,
    withApprovalAsSeen(remembering as EmbeddingModel & KubeObject),
    verdict,
  );
  const ready = findCondition(previous?.conditions, "Ready");
  if (!conditionSays(ready, storeConflictReason, standing.message))
    context.events.warning(model, storeConflictReason, standing.message);
}
