/**
 * The order in which writes of one record win. A write carries the position of the source event that
 * produced it; the store keeps a write only if its position is strictly greater than the stored one.
 *
 * Order: event time first (milliseconds since the Unix epoch), then the source offset as tie-breaker.
 * Event time leads because bootstrap writes (which have no Kafka offset of their own) and nearline
 * writes (which do) must be comparable: a bootstrap row stamped with its source modification time
 * loses to the changelog event of a later modification. The offset breaks ties between events of the
 * same millisecond; Kafka guarantees per-key offsets increase within the key's partition. Equal
 * positions are "the same event again", so a retried or replayed write is a no-op (idempotent).
 *
 * The conditional-write Lua script implements exactly `isNewer`; this module is the reference the
 * unit tests pin down. Both numbers must be safe integers so Lua's doubles compare them exactly.
 */

import { invalidArgument } from "./errors.ts";

/** Where a write comes from in the source stream. */
export interface Position {
  /** Source event time, ms since the Unix epoch (a non-negative safe integer). */
  readonly eventTimeMs: number;
  /** Source offset (Kafka offset; 0 for snapshot rows), a non-negative safe integer. */
  readonly offset: number;
}

/** Negative when a < b, zero when equal, positive when a > b. */
export function comparePositions(a: Position, b: Position): number {
  if (a.eventTimeMs !== b.eventTimeMs) return a.eventTimeMs < b.eventTimeMs ? -1 : 1;
  if (a.offset !== b.offset) return a.offset < b.offset ? -1 : 1;
  return 0;
}

/** Whether a write at `incoming` replaces what is stored at `stored` (null = nothing stored). */
export function isNewer(incoming: Position, stored: Position | null): boolean {
  return stored === null || comparePositions(incoming, stored) > 0;
}

/** Throws INVALID_ARGUMENT unless both fields are non-negative safe integers. */
export function assertPosition(position: Position): void {
  if (!Number.isSafeInteger(position.eventTimeMs) || position.eventTimeMs < 0) {
    throw invalidArgument(`eventTimeMs must be a non-negative safe integer, got ${position.eventTimeMs}`);
  }
  if (!Number.isSafeInteger(position.offset) || position.offset < 0) {
    throw invalidArgument(`offset must be a non-negative safe integer, got ${position.offset}`);
  }
}
