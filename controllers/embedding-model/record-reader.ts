// Reads the version records of a model live (see version-record.ts). Shared by the EmbeddingModel
// controller (its promotion's memory), the NearlinePipeline controller (which versions run workers)
// and the BootstrapRun controller (which versions a run may fill).
import type { EmbeddingModel } from "../../crds/index.ts";
import { resourceTypes } from "../../operator/runtime/resource-types.ts";
import type { ReconcileContext } from "../../operator/runtime/types.ts";
import { isOrphaned } from "../shared/owner.ts";
import {
  parseVersionRecord,
  versionRecordName,
  versionRecordSelector,
  type VersionRecord,
} from "./version-record.ts";

/**
 * The records of a model's versions, read live: the cache may not show the record this controller
 * wrote a moment ago, and deciding from an older one would forget what happened (e.g. an activation).
 * (The shared cache keeps no ConfigMap data at all.) The cache only says which records exist; the
 * versions named in `alsoVersions` are always looked up. `adoptOrphans`: also the records no object
 * controls (the EmbeddingModel controller's read, which applies them again as the model's).
 */
export async function readVersionRecords(
  context: ReconcileContext,
  model: { name: string; uid?: string | undefined },
  alsoVersions: readonly (string | null | undefined)[],
  options: { adoptOrphans?: boolean } = {},
): Promise<VersionRecord[]> {
  const namespace = context.key.namespace;
  const names = new Set(
    context.cache
      .list(resourceTypes.configMap, { namespace, labels: versionRecordSelector(model.name) })
      .map((configMap) => configMap.metadata?.name ?? ""),
  );
  for (const version of alsoVersions) if (version) names.add(versionRecordName(model.name, version));
  // In parallel: a rollback waits for these reads before it flips the pointer.
  const read = await Promise.all(
    [...names].map(async (name) => {
      const live = await context.client.getLive(resourceTypes.configMap, { namespace, name });
      const owners = live?.metadata?.ownerReferences ?? [];
      const owned = owners.some((owner) => owner.uid === model.uid);
      // Orphaned (`kubectl delete --cascade=orphan` of the model removed its owner reference and left
      // it): the model's controller adopts it, the record applied again under its own reference.
      const orphan = options.adoptOrphans === true && live !== undefined && isOrphaned(live);
      if (live === undefined || !(owned || orphan)) return undefined;
      const record = parseVersionRecord(live as never);
      // Only a record named for the version it describes: names join model and version with '-', so
      // model `a` at `b-v1` and model `a-b` at `v1` both name `a-b-v1-record`, and with no owner to
      // tell them apart the other model's record would be served as a version of this one.
      return owned || record === undefined || versionRecordName(model.name, record.version) === name
        ? record
        : undefined;
    }),
  );
  return read.filter((record): record is VersionRecord => record !== undefined);
}

/**
 * The versions a model names itself: its spec's, its active one and every one its status lists
 * (Draining, Retained, being promoted). The NearlinePipeline and BootstrapRun controllers read their
 * records by name too, not only those the cache lists by label: a record whose labels were removed by
 * hand would otherwise look absent, and a Draining version's workers be deleted, or a run fill a
 * redefined version with the spec's prompts, until the model's next reconcile labelled it again.
 * (The EmbeddingModel controller names the versions its store holds; see promotion-observe.ts.)
 */
export function versionsNamedBy(model: EmbeddingModel): (string | undefined)[] {
  return [
    model.spec.version,
    model.status?.activeVersion,
    ...(model.status?.versions ?? []).map((entry) => entry.version),
  ];
}
