/**
 * Coverage figures from kept counters. The write script maintains, per (version, bucket), the number
 * of live records and of tombstones in `{P:<b>}:v:<version>:s`, changing them only on live/tombstone
 * transitions; summing B counters is O(buckets) however many records the version holds. No scan.
 */

import type { BatchCommand } from "./batch.ts";
import { execBatch } from "./batch.ts";
import { assertVersion, bucketKeys } from "./layout.ts";
import type { Store } from "./store.ts";
import { recordFailure } from "./store.ts";

/** Counters of one version. */
export interface VersionCounts {
  readonly version: string;
  /** Records with a vector. */
  readonly live: number;
  /** Deleted records whose tombstone is kept. */
  readonly tombstones: number;
  /** Distinct texts in the bootstrap text-hash cache. */
  readonly texts: number;
}

/** How much of a base version a candidate version covers. */
export interface Coverage {
  readonly base: VersionCounts;
  readonly candidate: VersionCounts;
  /** candidate.live / base.live (1 when the base is empty); may exceed 1. */
  readonly ratio: number;
}

/** Sums the counters of one version over all buckets. */
export async function countVersion(store: Store, version: string): Promise<VersionCounts> {
  assertVersion(version);
  const commands: BatchCommand[] = [];
  for (let bucket = 0; bucket < store.layout.buckets; bucket++) {
    const key = bucketKeys(store.layout, version, bucket).stats;
    commands.push({ key, queue: (pipeline) => pipeline.hmget(key, "live", "tombstones", "texts") });
  }
  let live = 0;
  let tombstones = 0;
  let texts = 0;
  for (const result of await execBatch(store.client, commands)) {
    if (result.error !== null) throw recordFailure(store, "count version", result.error);
    const [liveText, tombstoneText, textText] = result.value as (string | null)[];
    live += Number(liveText ?? 0);
    tombstones += Number(tombstoneText ?? 0);
    texts += Number(textText ?? 0);
  }
  return { version, live, tombstones, texts };
}

/** Coverage of `candidate` (e.g. the new version B) relative to `base` (the current version A). */
export async function coverage(
  store: Store,
  versions: { base: string; candidate: string },
): Promise<Coverage> {
  const [base, candidate] = await Promise.all([
    countVersion(store, versions.base),
    countVersion(store, versions.candidate),
  ]);
  return { base, candidate, ratio: coverageRatio(candidate.live, base.live) };
}

/** live(candidate) / live(base); an empty base is fully covered. */
export function coverageRatio(candidateLive: number, baseLive: number): number {
  return baseLive <= 0 ? 1 : candidateLive / baseLive;
}
