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

/** The counters `fields` of each bucket of one version, bucket by bucket (one pipelined batch). */
async function bucketCounters(store: Store, version: string, fields: readonly string[]): Promise<number[][]> {
  assertVersion(version);
  const commands: BatchCommand[] = [];
  for (let bucket = 0; bucket < store.layout.buckets; bucket++) {
    const key = bucketKeys(store.layout, version, bucket).stats;
    commands.push({ key, queue: (pipeline) => pipeline.hmget(key, ...fields) });
  }
  return (await execBatch(store.client, commands)).map((result) => {
    if (result.error !== null) throw recordFailure(store, "count version", result.error);
    return (result.value as (string | null)[]).map((text) => Number(text ?? 0));
  });
}

/** Sums the counters of one version over all buckets. */
export async function countVersion(store: Store, version: string): Promise<VersionCounts> {
  let live = 0;
  let tombstones = 0;
  let texts = 0;
  for (const [bucketLive, bucketTombstones, bucketTexts] of await bucketCounters(store, version, [
    "live",
    "tombstones",
    "texts",
  ])) {
    live += bucketLive!;
    tombstones += bucketTombstones!;
    texts += bucketTexts!;
  }
  return { version, live, tombstones, texts };
}

/** The buckets of one version whose `live` counter says they hold records (no scan). */
export async function liveBuckets(store: Store, version: string): Promise<number[]> {
  const counters = await bucketCounters(store, version, ["live"]);
  return counters.flatMap(([live], bucket) => (live! > 0 ? [bucket] : []));
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
