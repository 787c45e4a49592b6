/**
 * Per-version text-hash -> vector cache shared by bootstrap shards, so each distinct text is embedded
 * once per version however many shards meet it (identical job descriptions are common).
 *
 * Protocol for a shard with a batch of text hashes:
 *   1. `claimTexts`: every hash comes back `ready` (vector cached: reuse it), `claimed` (this shard
 *      embeds it) or `pending` (another shard holds a live lease: ask again later);
 *   2. embed the claimed texts, then `putTexts` (stores the vectors, drops the claims);
 *   3. on failure `releaseTextClaims` so others need not wait for the lease to expire.
 * A shard that dies mid-lease only delays its texts by the lease; another shard then claims them.
 * The cache lives in `{P:<b>}:v:<version>:t` (claims in `:c`), bucketed by text hash, and is
 * garbage-collected with the version.
 */

import type { VectorDtype, VectorPayload } from "./codec.ts";
import { decodePayload, encodePayload } from "./codec.ts";
import { queueScript } from "./commands.ts";
import type { BatchCommand } from "./batch.ts";
import { execBatch } from "./batch.ts";
import { StoreError, StoreErrorCodes, invalidArgument } from "./errors.ts";
import { assertTextHash, assertVersion, bucketKeys, bucketOf, groupByBucket } from "./layout.ts";
import type { Store } from "./store.ts";
import { recordFailure } from "./store.ts";

/** Outcome of a claim call. */
export interface TextClaims {
  /** Hashes whose vectors are already cached. */
  readonly ready: Map<string, VectorPayload>;
  /** Hashes this owner must embed and then `putTexts`. */
  readonly claimed: string[];
  /** Hashes another owner is embedding right now. */
  readonly pending: string[];
}

/** A computed vector for a text hash. */
export interface TextVector {
  readonly textHash: string;
  readonly vector: ArrayLike<number>;
  readonly modelDigest: string;
}

/** Claims options: who claims (a stable shard id, e.g. `<run>/<index>`) and for how long. */
export interface ClaimOptions {
  readonly owner: string;
  /** Lease duration; pick well above one embedding batch. Default 120 000 ms. */
  readonly leaseMs?: number;
}

/** Classifies text hashes into ready / claimed / pending (see the module comment). */
export async function claimTexts(
  store: Store,
  version: string,
  textHashes: readonly string[],
  options: ClaimOptions,
): Promise<TextClaims> {
  assertVersion(version);
  if (!/^[^|\s]{1,200}$/.test(options.owner))
    throw invalidArgument("claim owner must be 1-200 chars without | or spaces");
  const leaseMs = options.leaseMs ?? 120_000;
  if (!Number.isInteger(leaseMs) || leaseMs < 1) throw invalidArgument("leaseMs must be a positive integer");
  const hashes = unique(textHashes);
  const commands = hashes.map((hash): BatchCommand => {
    const keys = bucketKeys(store.layout, version, bucketOf(store.layout, hash));
    const args = [keys.texts, keys.claims, hash, options.owner, leaseMs];
    return { key: keys.texts, queue: (pipeline) => queueScript(pipeline, "judeStoreClaimText", args, true) };
  });
  const claims: TextClaims = { ready: new Map(), claimed: [], pending: [] };
  const results = await execBatch(store.client, commands);
  results.forEach((result, index) => {
    if (result.error !== null) throw recordFailure(store, "claim texts", result.error);
    const hash = hashes[index] as string;
    const [status, payload] = result.value as [Buffer, Buffer | undefined];
    const statusText = status.toString("latin1");
    if (statusText === "ready" && payload !== undefined) claims.ready.set(hash, decodePayload(payload));
    else if (statusText === "claimed") claims.claimed.push(hash);
    else if (statusText === "pending") claims.pending.push(hash);
    else throw new StoreError(StoreErrorCodes.INTERNAL, `unexpected claim reply ${statusText}`);
  });
  const prefix = store.layout.prefix;
  store.metrics.textCache.inc({ store: prefix, result: "ready" }, claims.ready.size);
  store.metrics.textCache.inc({ store: prefix, result: "claimed" }, claims.claimed.length);
  store.metrics.textCache.inc({ store: prefix, result: "pending" }, claims.pending.length);
  return claims;
}

/**
 * Stores vectors for text hashes (first writer wins) and releases their claims. Returns how many were
 * new. Idempotent, so safe to retry.
 */
export async function putTexts(
  store: Store,
  version: string,
  entries: readonly TextVector[],
  options: { dtype?: VectorDtype } = {},
): Promise<number> {
  assertVersion(version);
  const commands = entries.map((entry): BatchCommand => {
    assertTextHash(entry.textHash);
    const keys = bucketKeys(store.layout, version, bucketOf(store.layout, entry.textHash));
    const payload = encodePayload(entry.vector, options.dtype ?? "f32", entry.modelDigest);
    const args = [keys.texts, keys.claims, keys.stats, entry.textHash, payload];
    return { key: keys.texts, queue: (pipeline) => queueScript(pipeline, "judeStorePutText", args) };
  });
  let stored = 0;
  for (const result of await execBatch(store.client, commands)) {
    if (result.error !== null) throw recordFailure(store, "put texts", result.error);
    stored += Number(result.value);
  }
  return stored;
}

/** Reads cached vectors of text hashes; absent hashes are not in the map. */
export async function getTexts(
  store: Store,
  version: string,
  textHashes: readonly string[],
): Promise<Map<string, VectorPayload>> {
  assertVersion(version);
  const hashes = unique(textHashes);
  const groups = [...groupByBucket(store.layout, hashes)];
  const commands = groups.map(([bucket, indexes]): BatchCommand => {
    const key = bucketKeys(store.layout, version, bucket).texts;
    return {
      key,
      queue: (pipeline) => pipeline.hmgetBuffer(key, ...indexes.map((index) => hashes[index] as string)),
    };
  });
  const found = new Map<string, VectorPayload>();
  const results = await execBatch(store.client, commands);
  results.forEach((result, position) => {
    if (result.error !== null) throw recordFailure(store, "get texts", result.error);
    const payloads = result.value as (Buffer | null)[];
    (groups[position] as [number, number[]])[1].forEach((index, slot) => {
      const payload = payloads[slot];
      if (payload) found.set(hashes[index] as string, decodePayload(payload));
    });
  });
  return found;
}

/** Releases this owner's claims on the hashes (after a failed embedding). Returns how many it held. */
export async function releaseTextClaims(
  store: Store,
  version: string,
  textHashes: readonly string[],
  owner: string,
): Promise<number> {
  assertVersion(version);
  const commands = unique(textHashes).map((hash): BatchCommand => {
    const keys = bucketKeys(store.layout, version, bucketOf(store.layout, hash));
    return {
      key: keys.claims,
      queue: (pipeline) => queueScript(pipeline, "judeStoreReleaseText", [keys.claims, hash, owner]),
    };
  });
  let released = 0;
  for (const result of await execBatch(store.client, commands)) {
    if (result.error !== null) throw recordFailure(store, "release text claims", result.error);
    released += Number(result.value);
  }
  return released;
}

function unique(textHashes: readonly string[]): string[] {
  const hashes = [...new Set(textHashes)];
  hashes.forEach(assertTextHash);
  return hashes;
}
