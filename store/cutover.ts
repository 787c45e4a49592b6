/**
 * Versioned cutover: flip the current pointer from A to B in one atomic step, and roll back the same
 * way. The step runs as one Lua script on the control slot: it checks that the pointer still names the
 * expected current version and that the target is `complete`, writes current = B, backup = A,
 * epoch + 1, and publishes the new pointer on `{P}:flips`. A stays intact (it is the backup) until
 * garbage collection, so readers still holding the old pointer keep getting hits.
 */

import { runControl } from "./control.ts";
import { invalidArgument, isStoreError } from "./errors.ts";
import { assertVersion } from "./layout.ts";
import type { PointerState } from "./pointer.ts";
import type { Store } from "./store.ts";

/** Arguments of a flip: the version believed current (null before the first publish) and the target. */
export interface FlipRequest {
  readonly expectedCurrent: string | null;
  readonly target: string;
  /**
   * The least epoch to write (default: none): the new epoch is max(epoch + 1, minEpoch). For a pointer
   * written again after the store lost it, whose epoch restarted at 0 below what readers hold.
   */
  readonly minEpoch?: number;
}

/** Result of a flip: the pointer after it, and whether this call changed it. */
export interface FlipResult {
  readonly pointer: PointerState;
  /** False when the same flip had already happened (a retry); no notification was sent then. */
  readonly changed: boolean;
}

/**
 * Makes `target` current if the pointer still names `expectedCurrent` and `target` is complete.
 * Throws PRECONDITION_FAILED (details.actualCurrent) when current differs, VERSION_NOT_FOUND or
 * VERSION_NOT_COMPLETE for a bad target. Repeating a flip that already happened returns changed=false.
 * A flip to the version current already (expectedCurrent = target) changes nothing either, unless
 * `minEpoch` is above the pointer's epoch: then the pointer is written again at it, backup kept, and
 * published (a store rewound below the epoch readers hold).
 */
export function flip(store: Store, request: FlipRequest): Promise<FlipResult> {
  return switchPointer(store, request, "flip");
}

/**
 * Makes a retained version current again (`spec.version` set back). Same atomic step and the same
 * preconditions as `flip`: the target must still be registered and complete (not garbage-collected).
 */
export function rollback(store: Store, request: FlipRequest): Promise<FlipResult> {
  return switchPointer(store, request, "rollback");
}

async function switchPointer(
  store: Store,
  request: FlipRequest,
  kind: "flip" | "rollback",
): Promise<FlipResult> {
  assertVersion(request.target);
  if (request.expectedCurrent !== null) assertVersion(request.expectedCurrent);
  const minEpoch = request.minEpoch ?? 0;
  if (!Number.isSafeInteger(minEpoch) || minEpoch < 0)
    throw invalidArgument("minEpoch must be a non-negative safe integer");
  const labels = { store: store.layout.prefix, kind };
  try {
    const { status, values } = await runControl(
      store,
      kind,
      "judeStoreFlip",
      [
        store.keys.pointer,
        store.keys.versions,
        request.expectedCurrent ?? "",
        request.target,
        store.keys.flipChannel,
        kind,
        minEpoch,
      ],
      (status, values) => explainFlipFailure(request, status, values),
    );
    const [current, backup, epoch, flippedAt] = values;
    store.metrics.flips.inc({ ...labels, result: status });
    return {
      changed: status === "ok",
      pointer: {
        current: current || null,
        backup: backup || null,
        epoch: Number(epoch),
        flippedAtMs: flippedAt ? Number(flippedAt) : null,
      },
    };
  } catch (error) {
    store.metrics.flips.inc({ ...labels, result: isStoreError(error) ? error.code : "error" });
    throw error;
  }
}

function explainFlipFailure(
  request: FlipRequest,
  status: string,
  values: string[],
): { message: string; details: Record<string, unknown> } {
  const expectedCurrent = request.expectedCurrent;
  if (status === "PRECONDITION_FAILED") {
    const actualCurrent = values[0] || null;
    return {
      message: `current version is ${String(actualCurrent)}, expected ${String(expectedCurrent)}`,
      details: { expectedCurrent, actualCurrent, target: request.target },
    };
  }
  if (status === "VERSION_NOT_COMPLETE") {
    return {
      message: `target ${request.target} is ${String(values[0])}, not complete`,
      details: { target: request.target, state: values[0] },
    };
  }
  return { message: `target ${request.target}`, details: { target: request.target } };
}
