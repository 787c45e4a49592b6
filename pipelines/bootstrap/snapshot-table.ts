/**
 * The latest state of every key of one Kafka partition, built by replaying the partition from its
 * start up to the run's watermark: a newer record of a key replaces the one held, whether it is an
 * upsert or a delete (a tombstone or the decode rule's delete values). What remains is the snapshot to
 * write: the live keys as upserts and the deleted keys as deletes (the batch writer writes those as
 * conditional tombstones, as nearline does).
 *
 * Deletes must reach the store, not only drop the key here. A key's records are in one partition only
 * until partitions are added: the producer's partitioner then moves some keys to a new partition, so a
 * key updated on partition 0 can be deleted by a record on partition 1, which another replay (maybe
 * another shard) handles. Left out of the snapshot, that delete never reached the version, and the
 * update from partition 0 was written and stayed for good (the version's nearline workers start at the
 * watermarks, after the delete). Written as a tombstone at its own position, it beats the older update
 * whichever is written first, and it also removes a key the store still held from an earlier run.
 *
 * "Newer" is the store's order (event time, then partition, then offset: store/ordering.ts), which nearline's
 * conditional writes apply, not the log order: a record that comes later in the log with an older
 * event time (a late event, a delete stamped before the key's last update, a re-create stamped before
 * the delete) loses, as it loses in nearline. Keeping the last record instead would give the version a
 * bootstrap builds other texts and deletes than the version nearline kept for the same changelog.
 *
 * Memory is O(keys of the partition) × (rendered text + a few numbers; deleted keys their id and position): the table keeps the
 * rendered prompt text, not the record, and a shard replays its partitions one at a time. A partition
 * with tens of millions of keys needs a spill-to-disk table; that is not done in this milestone.
 */
import { isNewer, type Position } from "../../store/index.ts";
import type { EntityText } from "../shared/entity-text.ts";

/** A live key's latest record: an upsert with its rendered text. */
export interface SnapshotEntry {
  readonly id: string;
  readonly partition: number;
  readonly offset: number;
  readonly eventTimeMs: number;
  /** Rendered text and hash (a record with none of the extracted fields is not entered). */
  readonly text: EntityText;
}

/** A key's latest record as the snapshot writes it: an upsert with its text, or a delete (text null). */
export type SnapshotChange =
  | (SnapshotEntry & { readonly op: "upsert" })
  | {
      readonly op: "delete";
      readonly id: string;
      readonly partition: number;
      readonly offset: number;
      readonly eventTimeMs: number;
      readonly text: null;
    };

/** Latest record per key, live or deleted, iterated in ascending offset order. */
export class SnapshotTable {
  // Re-inserting on every record that wins keeps the Map's iteration order equal to the order of each
  // key's latest record, i.e. ascending offset, which is what the checkpoint's "written through" needs.
  // A record that loses is not inserted, so that order holds: each entry sits where its own record came.
  readonly #latest = new Map<string, SnapshotChange>();

  /** Applies an upsert unless the key holds a newer record; records must arrive in ascending offset order. */
  upsert(entry: SnapshotEntry): void {
    this.#apply({ ...entry, op: "upsert" });
  }

  /** Applies a delete at `position` unless the key holds a newer record (a newer upsert brings it back). */
  delete(id: string, position: Position): void {
    this.#apply({
      op: "delete",
      id,
      eventTimeMs: position.eventTimeMs,
      partition: position.partition ?? -1,
      offset: position.offset,
      text: null,
    });
  }

  #apply(change: SnapshotChange): void {
    if (!isNewer(change, this.#latest.get(change.id) ?? null)) return;
    this.#latest.delete(change.id);
    this.#latest.set(change.id, change);
  }

  /** Every key's latest record (upsert or delete) after `offset`, in ascending offset order. */
  changesAfter(offset: number): SnapshotChange[] {
    const changes: SnapshotChange[] = [];
    for (const change of this.#latest.values()) if (change.offset > offset) changes.push(change);
    return changes;
  }
}
