/**
 * Key naming of the versioned store. This file is the executable form of the README's "Store layout" section; a reader
 * written in another language follows that document and must produce the same key strings.
 *
 * Two kinds of keys share one prefix `P` per store:
 *
 * - control keys, all tagged `{P}` so they live in one Cluster slot and one Lua script can check and
 *   change them atomically: `{P}:meta`, `{P}:ptr` (current/backup/epoch), `{P}:versions`,
 *   `{P}:owner` (the EmbeddingModel that alone flips, collects and bootstraps this store); the flip
 *   notification channel is `{P}:flips`.
 * - bucket keys, tagged `{P:<bucket>}`. A record `(entity, id)` belongs to bucket
 *   `fnv1a32(utf8("<entity>:<id>")) mod B`, where B (default 1024) is fixed when the store is created.
 *   All of one version's data in one bucket sits in five hashes in that bucket's slot:
 *   `{P:<b>}:v:<version>:m` (ordering metadata + content hash), `:d` (vector payload), `:s` (counters),
 *   `:t` (text-hash vector cache), `:c` (text-hash claims).
 *
 * Why buckets rather than one key per record: the conditional-write script must update the record and
 * its coverage counter atomically, which in Cluster means the same slot; bucketing gives B slots of
 * spread (plenty for any realistic number of masters), O(B) coverage and garbage collection with no
 * SCAN, and far less per-key memory overhead than one Redis key per vector.
 */

import { invalidArgument } from "./errors.ts";

/** Version of this key layout and value encoding; stored in `{P}:meta` as `layout`. */
export const LAYOUT_VERSION = 1;
/** Bucket count used when a store is created without an explicit one. */
export const DEFAULT_BUCKETS = 1024;
/** Upper bound on buckets: more than the Cluster's slot count would add keys without adding spread. */
export const MAX_BUCKETS = 16384;

/** Where one store's keys live. Immutable for the life of the store. */
export interface StoreLayout {
  /** The key prefix `P`, e.g. `jude:jobs-embeddings`. */
  readonly prefix: string;
  /** Number of buckets B. */
  readonly buckets: number;
}

/** Keys of the control slot. */
export interface ControlKeys {
  readonly meta: string;
  readonly pointer: string;
  readonly versions: string;
  /** The owning EmbeddingModel (namespace, name, uid); see owner.ts. */
  readonly owner: string;
  /** Pub/Sub channel on which every flip is announced. */
  readonly flipChannel: string;
}

/** The five hashes holding one version's data in one bucket. */
export interface BucketKeys {
  readonly meta: string;
  readonly data: string;
  readonly stats: string;
  readonly texts: string;
  readonly claims: string;
}

const prefixPattern = /^[A-Za-z0-9._:-]{1,100}$/;
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const textHashPattern = /^[A-Za-z0-9:+/=_.-]{8,128}$/;
const maxIdLength = 512;

/** The default prefix for a store name: `jude:<name>`. */
export function defaultPrefix(storeName: string): string {
  assertName("store name", storeName);
  return `jude:${storeName}`;
}

/** Validates and builds a layout. */
export function createLayout(prefix: string, buckets: number = DEFAULT_BUCKETS): StoreLayout {
  if (!prefixPattern.test(prefix)) {
    throw invalidArgument(`store prefix ${JSON.stringify(prefix)} must match ${prefixPattern.source}`);
  }
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > MAX_BUCKETS) {
    throw invalidArgument(`bucket count must be an integer in 1..${MAX_BUCKETS}, got ${buckets}`);
  }
  return { prefix, buckets };
}

/** Keys of the control slot `{P}`. */
export function controlKeys(layout: StoreLayout): ControlKeys {
  const tag = `{${layout.prefix}}`;
  return {
    meta: `${tag}:meta`,
    pointer: `${tag}:ptr`,
    versions: `${tag}:versions`,
    owner: `${tag}:owner`,
    flipChannel: `${tag}:flips`,
  };
}

/** The common start of one version's keys in one bucket: `{<prefix>:<bucket>}:v:<version>`. */
function bucketBase(layout: StoreLayout, version: string, bucket: number): string {
  return `{${layout.prefix}:${bucket}}:v:${version}`;
}

/** Keys of one version in one bucket. */
export function bucketKeys(layout: StoreLayout, version: string, bucket: number): BucketKeys {
  const base = bucketBase(layout, version, bucket);
  return {
    meta: `${base}:m`,
    data: `${base}:d`,
    stats: `${base}:s`,
    texts: `${base}:t`,
    claims: `${base}:c`,
  };
}

/**
 * The hash of one version's recorded source offsets, `{<prefix>:0}:v:<version>:o`: in bucket 0's slot,
 * beside that bucket's stats key (see source-offsets.ts).
 */
export function sourceOffsetsKey(layout: StoreLayout, version: string): string {
  return `${bucketBase(layout, version, 0)}:o`;
}

/** The hash field of a record: `<entity>:<id>`. Entity names cannot contain `:`, ids may. */
export function recordField(entity: string, id: string): string {
  assertEntity(entity);
  assertId(id);
  return `${entity}:${id}`;
}

/** Bucket of a record field or of a text hash. */
export function bucketOf(layout: StoreLayout, fieldOrTextHash: string): number {
  return fnv1a32(fieldOrTextHash) % layout.buckets;
}

/** 32-bit FNV-1a over the UTF-8 bytes of a string, as an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Throws INVALID_ARGUMENT unless `version` is a valid embedding version name. */
export function assertVersion(version: string): void {
  assertName("version", version);
}

/** Throws INVALID_ARGUMENT unless `entity` is a valid entity type name (no `:`). */
export function assertEntity(entity: string): void {
  assertName("entity", entity);
}

/**
 * Throws INVALID_ARGUMENT unless `id` is a non-empty id of at most 512 characters and well-formed
 * Unicode. Keys and fields reach Redis as UTF-8, where every lone surrogate becomes U+FFFD: such an id
 * would name another record (a reader would return that record's vector, a writer overwrite it).
 */
export function assertId(id: string): void {
  if (typeof id !== "string" || id.length === 0 || id.length > maxIdLength) {
    throw invalidArgument(`id must be a non-empty string of at most ${maxIdLength} characters`);
  }
  if (!id.isWellFormed()) throw invalidArgument("id is not well-formed Unicode (it has a lone surrogate)");
}

/** Throws INVALID_ARGUMENT unless `textHash` looks like a hash (8-128 chars of a safe alphabet). */
export function assertTextHash(textHash: string): void {
  if (typeof textHash !== "string" || !textHashPattern.test(textHash)) {
    throw invalidArgument(`text hash ${JSON.stringify(textHash)} must match ${textHashPattern.source}`);
  }
}

function assertName(what: string, value: string): void {
  if (typeof value !== "string" || !namePattern.test(value)) {
    throw invalidArgument(`${what} ${JSON.stringify(value)} must match ${namePattern.source}`);
  }
}

/** Groups record fields (or text hashes) by bucket: bucket -> indexes into `fields`, in input order. */
export function groupByBucket(layout: StoreLayout, fields: readonly string[]): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  fields.forEach((field, index) => {
    const bucket = bucketOf(layout, field);
    let members = groups.get(bucket);
    if (members === undefined) groups.set(bucket, (members = []));
    members.push(index);
  });
  return groups;
}
