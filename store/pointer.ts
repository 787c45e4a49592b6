/**
 * The current/backup version pointer `{P}:ptr` and its flip notifications.
 *
 * The pointer is a hash: `current`, `backup` (empty string = none), `epoch` (incremented by every flip
 * and rollback, so a reader can tell which of two pointers is newer without trusting clocks),
 * `flipped_at_ms` and `kind`. Every flip publishes a JSON message on `{P}:flips`.
 */

import { StoreError, StoreErrorCodes } from "./errors.ts";
import { assertVersion } from "./layout.ts";
import type { Store } from "./store.ts";
import { recordFailure } from "./store.ts";

/** A snapshot of the pointer. */
export interface PointerState {
  readonly current: string | null;
  readonly backup: string | null;
  readonly epoch: number;
  readonly flippedAtMs: number | null;
}

/** The pointer of a store no version was ever published to. */
export const EMPTY_POINTER: PointerState = { current: null, backup: null, epoch: 0, flippedAtMs: null };

/**
 * Reads the pointer. A pointer that is not what the flip script writes (edited by hand) is
 * CORRUPT_RECORD naming the key, so a reader keeps the pointer it has instead of adopting it.
 */
export async function readPointer(store: Store): Promise<PointerState> {
  const key = store.keys.pointer;
  let fields: Record<string, string>;
  try {
    fields = await store.client.hgetall(key);
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith("WRONGTYPE")))
      throw recordFailure(store, "read pointer", error);
    const corrupt = new StoreError(StoreErrorCodes.CORRUPT_RECORD, `${key} is not a hash`, { cause: error });
    throw recordFailure(store, "read pointer", corrupt);
  }
  try {
    return pointerFromFields(fields, key);
  } catch (error) {
    throw recordFailure(store, "read pointer", error);
  }
}

/** Builds a PointerState from the pointer hash's fields; errors name the pointer as `name`. */
export function pointerFromFields(
  fields: Readonly<Record<string, string | undefined>>,
  name = "pointer",
): PointerState {
  // Decimal digits only, as HINCRBY and the flip script write it: Number() alone would also take "",
  // "0x10" or "1e3" from a hand edit.
  const text = fields["epoch"] ?? "0";
  const epoch = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(epoch)) {
    throw new StoreError(
      StoreErrorCodes.CORRUPT_RECORD,
      `${name} epoch ${String(fields["epoch"])} is malformed`,
    );
  }
  const flippedAt = fields["flipped_at_ms"];
  return {
    current: versionField(fields, "current", name),
    backup: versionField(fields, "backup", name),
    epoch,
    flippedAtMs: flippedAt ? Number(flippedAt) : null,
  };
}

/** The version named by a pointer field; null when empty or absent. */
function versionField(
  fields: Readonly<Record<string, string | undefined>>,
  field: "current" | "backup",
  name: string,
): string | null {
  const version = fields[field];
  if (!version) return null;
  try {
    assertVersion(version);
  } catch (cause) {
    throw new StoreError(
      StoreErrorCodes.CORRUPT_RECORD,
      `${name} ${field} ${JSON.stringify(version)} is not a version name`,
      { cause },
    );
  }
  return version;
}

/**
 * Parses a flip notification. Returns null for a message that is not one (readers then fall back to
 * re-reading the pointer, which is always correct).
 */
export function parseFlipMessage(message: string): PointerState | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const { epoch, current, backup } = parsed as Record<string, unknown>;
  if (
    typeof epoch !== "number" ||
    !Number.isSafeInteger(epoch) ||
    typeof current !== "string" ||
    current === ""
  ) {
    return null;
  }
  const named = typeof backup === "string" && backup !== "" ? backup : null;
  try {
    assertVersion(current);
    if (named !== null) assertVersion(named);
  } catch {
    return null;
  }
  return {
    current,
    backup: named,
    epoch,
    flippedAtMs: null,
  };
}

/** Whether `candidate` should replace `held` (strictly newer epoch). */
export function isNewerPointer(candidate: PointerState, held: PointerState): boolean {
  return candidate.epoch > held.epoch;
}
