/**
 * The latest state of every key of one Kafka partition, built by replaying the partition from its
 * start up to the run's watermark: a later record of a key replaces the earlier one, a delete (a
 * tombstone or the decode rule's delete values) drops the key. What remains is the snapshot to write.
 *
 * Memory is O(keys of the partition) × (rendered text + a few numbers; deleted keys only their id): the table keeps the
 * rendered prompt text, not the record, and a shard replays its partitions one at a time. A partition
 * with tens of millions of keys needs a spill-to-disk table; that is not done in this milestone.
 */
import type { EntityText } from "../shared/entity-text.ts";

/** The latest live state of one key. */
export interface SnapshotEntry {
  readonly id: string;
  readonly partition: number;
  readonly offset: number;
  readonly eventTimeMs: number;
  /** Rendered text and hash; null when the record had none of the extracted fields. */
  readonly text: EntityText | null;
}

/** Counts of a replay. */
export interface SnapshotCounts {
  /** Upserts replaced by a later record (upsert or delete) of the same key. */
  superseded: number;
  /** Keys whose latest record is a delete. */
  dropped: number;
}

/** Latest live entry per key, iterated in ascending offset order. */
export class SnapshotTable {
  // Re-inserting on every upsert keeps the Map's iteration order equal to the order of each key's
  // latest record, i.e. ascending offset, which is what the checkpoint's "written through" needs.
  readonly #latest = new Map<string, SnapshotEntry>();
  readonly #deleted = new Set<string>();
  #superseded = 0;

  /** Applies an upsert; records must arrive in ascending offset order. */
  upsert(entry: SnapshotEntry): void {
    if (this.#latest.delete(entry.id)) this.#superseded++;
    this.#deleted.delete(entry.id);
    this.#latest.set(entry.id, entry);
  }

  /** Applies a delete: the key is not part of the snapshot (unless a later record brings it back). */
  delete(id: string): void {
    if (this.#latest.delete(id)) this.#superseded++;
    this.#deleted.add(id);
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
