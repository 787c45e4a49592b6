/**
 * Writes one batch of snapshot entities into the version being built: skip what the store already
 * holds at a newer position (nearline got there first: no inference needed), get a vector for each
 * remaining text (deduplicated, text-vectors.ts), then write conditionally at the entity's own source
 * position, so a fresher nearline write that lands meanwhile still wins.
 */
import type { EntityText } from "../shared/entity-text.ts";
import {
  isStale,
  readStored,
  writeEntities,
  type EntityStore,
  type EntityWrite,
} from "../shared/entity-writes.ts";
import type { ShardCounts } from "./checkpoint-codec.ts";

/** One entity of the snapshot at its source position. */
export interface BatchEntity {
  readonly id: string;
  readonly op: "upsert" | "delete";
  readonly eventTimeMs: number;
  /** Kafka offset; 0 for file rows. */
  readonly offset: number;
  /** Kafka partition; -1 for file rows. */
  readonly partition: number;
  /** Rendered text of an upsert; null when it had none of the extracted fields. */
  readonly text: EntityText | null;
}

export interface EntityBatchOptions {
  readonly entity: string;
  readonly version: string;
  readonly modelDigest: string;
  readonly store: EntityStore;
  readonly vectorsFor: (
    texts: readonly EntityText[],
  ) => Promise<{ vectors: Float32Array[]; embedded: number }>;
}

/** The counts one batch adds. */
export type BatchCounts = Pick<
  ShardCounts,
  "entities" | "written" | "stale" | "embedded" | "deduplicated" | "failed" | "deleted"
>;

/** Builds the batch writer. */
export function createEntityBatchWriter(
  options: EntityBatchOptions,
): (entities: readonly BatchEntity[]) => Promise<BatchCounts> {
  return async (entities) => {
    const counts: BatchCounts = {
      entities: 0,
      written: 0,
      stale: 0,
      embedded: 0,
      deduplicated: 0,
      failed: 0,
      deleted: 0,
    };
    const usable = entities.filter((each) => each.op === "delete" || each.text !== null);
    counts.failed = entities.length - usable.length;
    counts.entities = usable.length;
    if (usable.length === 0) return counts;

    const stored = await readStored(
      options.store,
      options,
      usable.map((each) => each.id),
    );
    const toWrite = usable.filter((each, index) => !isStale(each, stored[index]));
    counts.stale = usable.length - toWrite.length;

    const upserts = toWrite.filter((each) => each.op === "upsert");
    const { vectors, embedded } =
      upserts.length > 0
        ? await options.vectorsFor(upserts.map((each) => each.text!))
        : { vectors: [], embedded: 0 };
    counts.embedded = embedded;
    counts.deduplicated = upserts.length - embedded;
    const vectorOf = new Map(upserts.map((each, index) => [each, vectors[index]!]));

    const outcomes = await writeEntities(
      options.store,
      options,
      toWrite.map((each): EntityWrite =>
        each.op === "delete"
          ? { ...each, op: "delete" }
          : { ...each, op: "upsert", vector: vectorOf.get(each)!, contentHash: each.text!.hash },
      ),
    );
    for (const outcome of outcomes) {
      if (outcome === "stale") counts.stale++;
      else if (outcome === "deleted" || outcome === "tombstoned") counts.deleted++;
      else counts.written++;
    }
    return counts;
  };
}
