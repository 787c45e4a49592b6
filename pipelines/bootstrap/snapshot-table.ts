/**
 * The latest state of every key of one Kafka partition, built by replaying the partition from its
 * start up to the run's watermark: a newer record of a key replaces the one held, a delete (a
 * tombstone or the decode rule's delete values) drops the key. What remains is the snapshot to write.
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

/** The latest live state of one key. */
export interface SnapshotEntry {
  readonly id: string;
  readonly partition: number;
  readonly offset: number;
  readonly eventTimeMs: number;
  /** Rendered text and hash (a record with none of the extracted fields is not entered). */
  readonly text: EntityText;
}

/** Counts of a replay. */
export interface SnapshotCounts {
  /** Upserts replaced by a newer record (upsert or delete) of the same key, or older than the one held. */
  superseded: number;
  /** Keys whose latest record is a delete. */
  dropped: number;
}

/** Latest live entry per key, iterated in ascending offset order. */
export class SnapshotTable {
  // Re-inserting on every upsert keeps the Map's iteration order equal to the order of each key's
  // latest record, i.e. ascending offset, which is what the checkpoint's "written through" needs.
  // A record that loses is not inserted, so that order holds: each entry sits where its own record came.
  readonly #latest = new Map<string, SnapshotEntry>();
  /** Keys whose newest record is a delete, with its position, so an older upsert does not bring them back. */
  readonly #deleted = new Map<string, Position>();
  #superseded = 0;

  /** Applies an upsert unless the key holds a newer record; records must arrive in ascending offset order. */
  upsert(entry: SnapshotEntry): void {
    if (!this.#isNewest(entry.id, entry)) {
      this.#superseded++;
      return;
    }
    if (this.#latest.delete(entry.id)) this.#superseded++;
    this.#deleted.delete(entry.id);
    this.#latest.set(entry.id, entry);
  }

  /**
   * Applies a delete at `position` unless the key holds a newer record: the key is not part of the
   * snapshot (unless a newer record brings it back).
   */
  delete(id: string, position: Position): void {
    if (!this.#isNewest(id, position)) return;
    if (this.#latest.delete(id)) this.#superseded++;
    this.#deleted.set(id, {
      eventTimeMs: position.eventTimeMs,
      partition: position.partition,
      offset: position.offset,
    });
  }

  #isNewest(id: string, position: Position): boolean {
    return isNewer(position, this.#latest.get(id) ?? this.#deleted.get(id) ?? null);
  }

  /** Counts so far. */
  get counts(): SnapshotCounts {
    return { superseded: this.#superseded, dropped: this.#deleted.size };
  }

  /** Number of live keys. */
  get size(): number {
    return this.#latest.size;
  }

  /** Live entries whose latest record is after `offset`, in ascending offset order. */
  entriesAfter(offset: number): SnapshotEntry[] {
    const entries: SnapshotEntry[] = [];
    for (const entry of this.#latest.values()) if (entry.offset > offset) entries.push(entry);
    return entries;
  }
}
