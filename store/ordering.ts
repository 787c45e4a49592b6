/**
 * The order in which writes of one record win. A write carries the position of the source event that
 * produced it; the store keeps a write only if its position is strictly greater than the stored one.
 *
 * Order: event time first (milliseconds since the Unix epoch), then the source partition, then the
 * source offset. Event time leads because bootstrap writes (which have no Kafka offset of their own)
 * and nearline writes (which do) must be comparable: a bootstrap row stamped with its source
 * modification time loses to the changelog event of a later modification.
 *
 * Ties of event time. Kafka orders records only within a partition, so the offset decides only
 * between two events of one partition (per-key offsets increase within the key's partition). Between
 * partitions an offset says nothing: after partitions were added, a key the producer's partitioner
 * moves lands on a partition whose offsets start again at 0, and ordering by offset made every
 * same-millisecond update there lose to the older event on the old partition, for good. Events carry
 * no other order information across partitions (an event time is all a changelog record has), so the
 * rule there is explicit and deterministic: the higher partition number wins. It is the producer's
 * order where keys move because partitions were added and the count grew by a multiple (2 -> 4 -> 8):
 * a hash-mod-count partitioner then moves a key only to an added partition, numbered above every old
 * one. Growth by another factor (3 -> 4) may move a key to a lower partition, and an update there with
 * the same event time as the key's last event on its old partition loses (event times finer than the
 * time between the two changes avoid it). Bootstrap file rows (partition -1) lose a tie to any Kafka
 * event. Equal positions are "the same event again", so a retried or replayed write is a no-op
 * (idempotent).
 *
 * The conditional-write Lua script implements exactly `isNewer`; this module is the reference the
 * unit tests pin down. All numbers must be safe integers so Lua's doubles compare them exactly.
 */

import { invalidArgument } from "./errors.ts";

/** Where a write comes from in the source stream. */
export interface Position {
  /** Source event time, ms since the Unix epoch (a non-negative safe integer). */
  readonly eventTimeMs: number;
  /** Source offset (Kafka offset; 0 for snapshot rows), a non-negative safe integer. */
  readonly offset: number;
  /** Source partition (Kafka partition; -1 for snapshot rows, also when absent), an integer >= -1. */
  readonly partition?: number | undefined;
}

/** Negative when a < b, zero when equal, positive when a > b. */
export function comparePositions(a: Position, b: Position): number {
  if (a.eventTimeMs !== b.eventTimeMs) return a.eventTimeMs < b.eventTimeMs ? -1 : 1;
  const partitionA = a.partition ?? -1;
  const partitionB = b.partition ?? -1;
  if (partitionA !== partitionB) return partitionA < partitionB ? -1 : 1;
  if (a.offset !== b.offset) return a.offset < b.offset ? -1 : 1;
  return 0;
}

/** Whether a write at `incoming` replaces what is stored at `stored` (null = nothing stored). */
export function isNewer(incoming: Position, stored: Position | null): boolean {
  return stored === null || comparePositions(incoming, stored) > 0;
}

/** Throws INVALID_ARGUMENT unless time and offset are non-negative safe integers and the partition >= -1. */
export function assertPosition(position: Position): void {
  if (!Number.isSafeInteger(position.eventTimeMs) || position.eventTimeMs < 0) {
    throw invalidArgument(`eventTimeMs must be a non-negative safe integer, got ${position.eventTimeMs}`);
  }
  if (!Number.isSafeInteger(position.offset) || position.offset < 0) {
    throw invalidArgument(`offset must be a non-negative safe integer, got ${position.offset}`);
  }
  const partition = position.partition ?? -1;
  if (!Number.isSafeInteger(partition) || partition < -1) {
    throw invalidArgument(`partition must be an integer >= -1, got ${position.partition}`);
  }
}
