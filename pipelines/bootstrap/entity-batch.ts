/**
 * Writes one batch of snapshot entities into the version being built: skip what the store already
 * holds at a newer position (nearline got there first: no inference needed), get a vector for each
 * remaining text (deduplicated, text-vectors.ts), then write conditionally at the entity's own source
 * position, so a fresher nearline write that lands meanwhile still wins.
 */
import type { RecordMeta, StoreWrite, WriteOutcome } from "../../store/index.ts";
import { comparePositions } from "../../store/index.ts";
import type { EntityText } from "../shared/entity-text.ts";
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

/** What the batch writer needs of the store (StoreWriter implements it). */
export interface SnapshotStore {
  readMeta(version: string, keys: readonly { entity: string; id: string }[]): Promise<(RecordMeta | null)[]>;
  write(writes: readonly StoreWrite[]): Promise<WriteOutcome[]>;
}

export interface EntityBatchOptions {
  readonly entity: string;
  readonly version: string;
  readonly modelDigest: string;
  readonly store: SnapshotStore;
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
  const { entity, version } = options;
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

    const stored = await options.store.readMeta(
      version,
      usable.map((each) => ({ entity, id: each.id })),
    );
    const toWrite = usable.filter((each, index) => {
      const meta = stored[index];
      return meta === null || meta === undefined || comparePositions(each, meta) > 0;
    });
    counts.stale = usable.length - toWrite.length;

    const upserts = toWrite.filter((each) => each.op === "upsert");
    const { vectors, embedded } =
      upserts.length > 0
        ? await options.vectorsFor(upserts.map((each) => each.text!))
        : { vectors: [], embedded: 0 };
    counts.embedded = embedded;
    counts.deduplicated = upserts.length - embedded;
    const vectorOf = new Map(upserts.map((each, index) => [each, vectors[index]!]));

    const writes = toWrite.map((each): StoreWrite => {
      const base = {
        entity,
        id: each.id,
        version,
        eventTimeMs: each.eventTimeMs,
        offset: each.offset,
        partition: each.partition,
      };
      return each.op === "delete"
        ? { ...base, kind: "delete" }
        : {
            ...base,
            kind: "upsert",
            vector: vectorOf.get(each)!,
            modelDigest: options.modelDigest,
            contentHash: each.text!.hash,
          };
    });
    const outcomes = writes.length > 0 ? await options.store.write(writes) : [];
    for (const outcome of outcomes) {
      if (outcome === "stale") counts.stale++;
      else if (outcome === "deleted" || outcome === "tombstoned") counts.deleted++;
      else counts.written++;
    }
    return counts;
  };
}
