/**
 * Garbage collection of versions beyond retention, in bounded batches and without SCAN.
 *
 * A version's data is exactly the five hashes per bucket named in layout.ts, so deleting it means
 * UNLINKing `5 x B` known keys (UNLINK frees large hashes off the main thread). Each step handles at
 * most `maxBuckets` buckets and records its progress in the registry (`gcNextBucket`), so GC can run a
 * little on every reconcile, survive operator restarts, and never block Redis. The first step marks
 * the version `deleting` in the same atomic script that checks it is neither current nor backup; from
 * then on no flip or rollback can target it.
 *
 * GC assumes the version's writers are gone (the operator scales them away after the bake period):
 * a writer still running would recreate keys in buckets already collected.
 */

import type { BatchCommand } from "./batch.ts";
import { execBatch } from "./batch.ts";
import { runControl } from "./control.ts";
import { invalidArgument } from "./errors.ts";
import { assertVersion, bucketKeys, sourceOffsetsKey } from "./layout.ts";
import type { PointerState } from "./pointer.ts";
import { readPointer } from "./pointer.ts";
import type { Store } from "./store.ts";
import { recordFailure } from "./store.ts";
import type { VersionInfo } from "./versions.ts";
import { listVersions, parseVersionInfo } from "./versions.ts";

/** Default number of buckets one GC step removes. */
export const DEFAULT_GC_BUCKETS_PER_STEP = 64;

/** Progress of one GC step on one version. */
export interface GcStepResult {
  readonly version: string;
  /** True when every bucket is gone and the version was removed from the registry. */
  readonly done: boolean;
  /** First bucket the next step will remove. */
  readonly nextBucket: number;
  /** Buckets this step removed. */
  readonly bucketsRemoved: number;
  /** Redis keys this step removed (hashes that existed). */
  readonly keysDeleted: number;
}

/**
 * Which versions may be deleted: never current or backup, never one still `building` (a bootstrap in
 * progress), always one already `deleting` (resume). Of the other complete versions, the
 * `retainVersions` most recently completed rollback targets are kept, counting the backup.
 */
export function selectVersionsToDelete(
  pointer: PointerState,
  versions: readonly VersionInfo[],
  retainVersions: number,
): string[] {
  if (!Number.isInteger(retainVersions) || retainVersions < 0) {
    throw invalidArgument(`retainVersions must be a non-negative integer, got ${retainVersions}`);
  }
  const protectedVersions = new Set([pointer.current, pointer.backup].filter((v): v is string => v !== null));
  const deleting = versions.filter((info) => info.state === "deleting").map((info) => info.version);
  const candidates = versions
    .filter((info) => info.state === "complete" && !protectedVersions.has(info.version))
    .sort((a, b) => (b.completedAtMs ?? b.createdAtMs) - (a.completedAtMs ?? a.createdAtMs));
  const keep = Math.max(0, retainVersions - (pointer.backup !== null ? 1 : 0));
  return [...deleting, ...candidates.slice(keep).map((info) => info.version)];
}

/**
 * Removes up to `maxBuckets` buckets of a version. Throws PRECONDITION_FAILED when the version is
 * current or backup, VERSION_NOT_FOUND when it is not registered (already collected).
 */
export async function deleteVersionStep(
  store: Store,
  version: string,
  options: { maxBuckets?: number } = {},
): Promise<GcStepResult> {
  assertVersion(version);
  const maxBuckets = options.maxBuckets ?? DEFAULT_GC_BUCKETS_PER_STEP;
  if (!Number.isInteger(maxBuckets) || maxBuckets < 1)
    throw invalidArgument("maxBuckets must be a positive integer");
  const marked = await runControl(store, "gc mark deleting", "judeStoreMarkDeleting", [
    store.keys.pointer,
    store.keys.versions,
    version,
  ]);
  const info = parseVersionInfo(marked.values[0] ?? "");
  const from = info.gcNextBucket ?? 0;
  const to = Math.min(store.layout.buckets, from + maxBuckets);
  const commands: BatchCommand[] = [];
  for (let bucket = from; bucket < to; bucket++) {
    const keys = bucketKeys(store.layout, version, bucket);
    const all = [keys.meta, keys.data, keys.stats, keys.texts, keys.claims];
    // Bucket 0's slot also holds the version's source offsets (source-offsets.ts).
    if (bucket === 0) all.push(sourceOffsetsKey(store.layout, version));
    commands.push({ key: keys.meta, queue: (pipeline) => pipeline.unlink(...all) });
  }
  let keysDeleted = 0;
  for (const result of await execBatch(store.client, commands)) {
    if (result.error !== null) throw recordFailure(store, "gc unlink", result.error);
    keysDeleted += Number(result.value);
  }
  store.metrics.gcKeysDeleted.inc({ store: store.layout.prefix }, keysDeleted);
  const advanced = await runControl(store, "gc advance", "judeStoreAdvanceGc", [
    store.keys.versions,
    version,
    to,
    store.layout.buckets,
  ]);
  return {
    version,
    done: advanced.status === "done",
    nextBucket: to,
    bucketsRemoved: to - from,
    keysDeleted,
  };
}

/**
 * One bounded GC pass: selects versions beyond retention and removes at most `maxBuckets` buckets in
 * total, oldest selected version first. Call repeatedly (e.g. once per reconcile) until it returns no
 * results.
 */
export async function collectGarbage(
  store: Store,
  options: { retainVersions: number; maxBuckets?: number },
): Promise<GcStepResult[]> {
  const [pointer, versions] = await Promise.all([readPointer(store), listVersions(store)]);
  let budget = options.maxBuckets ?? DEFAULT_GC_BUCKETS_PER_STEP;
  const results: GcStepResult[] = [];
  for (const version of selectVersionsToDelete(pointer, versions, options.retainVersions)) {
    if (budget <= 0) break;
    const result = await deleteVersionStep(store, version, { maxBuckets: budget });
    budget -= Math.max(1, result.bucketsRemoved);
    results.push(result);
  }
  return results;
}
