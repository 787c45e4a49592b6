/**
 * Source offsets recorded in the store: per source topic-partition, the offset up to which a
 * pipeline's writes of one version are in the store (the next offset to read, as Kafka commits it).
 * A nearline worker records them with each batch's writes, before it commits the same offsets to
 * Kafka, so the store can later tell whether it still holds what Kafka says was written: a store
 * restored from an older snapshot, restarted without persistence or failed over to a replica behind
 * holds an older offset (or none), and the worker replays the source from there (exactly-once sinks
 * such as Kafka Connect's keep their offsets in the sink for the same reason).
 *
 * Key: `{P:0}:v:<version>:o`, a hash in bucket 0's slot (so the durability wait of a write that
 * records offsets also waits on that primary), field `<group>:<topic>:<topicId>:<partition>`, value
 * the offset (decimal). A recorded offset is compared with one consumer group's committed offset of
 * one log, so the field names exactly that: the group (two pipelines of a version, each with its own
 * group, on topics of one name, on one Kafka cluster or two, each keep their own), and Kafka's topic
 * ID, a UUID new at every creation of a topic (a topic deleted and created again under its name is a
 * new log whose offsets start at 0 again; another cluster's topic of that name has another ID).
 * Group and topic names cannot contain `:`. Deleted with the version's bucket 0 by garbage collection.
 *
 * Releases before wrote the field `<topic>:<partition>` (legacy): a worker adopts it
 * (adoptLegacySourceOffsets) for a partition of whose group and topic the hash holds no field yet, and
 * no longer writes it.
 *
 * Each offset is set by a script that checks the value the writer expects stored (the one it last
 * recorded or read): an offset that went back since is left as it is and reported, so a worker whose
 * batch was in flight while the store was restored does not cover the loss with its newer offset.
 */

import type { BatchCommand } from "./batch.ts";
import { execBatch } from "./batch.ts";
import { queueScript } from "./commands.ts";
import { bucketKeys, sourceOffsetsKey } from "./layout.ts";
import type { StoreLayout } from "./layout.ts";
import type { Store } from "./store.ts";
import { recordFailure } from "./store.ts";

export { sourceOffsetsKey };

/** The stats key of the same slot: the durability wait's marker for the offsets' primary. */
export function sourceOffsetsStatsKey(layout: StoreLayout, version: string): string {
  return bucketKeys(layout, version, 0).stats;
}

/** Whose offsets of which log: the consumer group and the topic (its name and its ID). */
export interface OffsetSource {
  /** The Kafka consumer group whose committed offsets the recorded ones are compared with. */
  readonly group: string;
  readonly topic: string;
  /** Kafka's topic ID (new at each creation of the topic); '' when the broker names none. */
  readonly topicId: string;
}

/** The hash field of a topic-partition: `<group>:<topic>:<topicId>:<partition>`. */
export function sourceOffsetField(source: OffsetSource, partition: number): string {
  return `${source.group}:${source.topic}:${source.topicId}:${partition}`;
}

/** The field releases before wrote: `<topic>:<partition>` (see adoptLegacySourceOffsets). */
export function legacySourceOffsetField(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

/** One offset to record with a write round. */
export interface SourceOffsetMark {
  readonly version: string;
  readonly source: OffsetSource;
  readonly partition: number;
  /** The next offset to read (everything below is in the store). */
  readonly offset: bigint;
  /** The offset the writer expects stored; undefined: it knows none (set unconditionally). */
  readonly expected?: bigint | undefined;
}

/** What recording one offset did: set, or refused because the stored one (null: none) differs. */
export type SourceOffsetResult =
  { readonly set: true } | { readonly set: false; readonly stored: bigint | null };

/** The script call recording one offset (appended to a write round's pipeline). */
export function sourceOffsetCommand(layout: StoreLayout, mark: SourceOffsetMark): BatchCommand {
  const key = sourceOffsetsKey(layout, mark.version);
  const args = [
    key,
    sourceOffsetField(mark.source, mark.partition),
    mark.offset.toString(),
    mark.expected === undefined ? "" : mark.expected.toString(),
  ];
  return { key, queue: (pipeline) => queueScript(pipeline, "judeStoreRecordSourceOffset", args) };
}

/** Parses the script's reply. */
export function parseSourceOffsetReply(reply: unknown): SourceOffsetResult {
  const [set, stored] = reply as [number, string | undefined];
  if (set === 1) return { set: true };
  return { set: false, stored: stored === undefined || stored === "" ? null : BigInt(stored) };
}

/** The recorded offsets of `partitions` of `source` in `version` (null where none is recorded). */
export async function readSourceOffsets(
  store: Store,
  version: string,
  source: OffsetSource,
  partitions: readonly number[],
): Promise<Map<number, bigint | null>> {
  const offsets = new Map<number, bigint | null>();
  if (partitions.length === 0) return offsets;
  const key = sourceOffsetsKey(store.layout, version);
  const fields = partitions.map((partition) => sourceOffsetField(source, partition));
  const [result] = await execBatch(store.client, [
    { key, queue: (pipeline) => pipeline.hmget(key, ...fields) },
  ]);
  if (result!.error !== null) throw recordFailure(store, "read source offsets", result!.error);
  const values = result!.value as (string | null)[];
  partitions.forEach((partition, index) => {
    const value = values[index];
    offsets.set(partition, value === null || value === undefined ? null : BigInt(value));
  });
  return offsets;
}

/**
 * Records `offsets` of `source` in `version` for the partitions that have none (HSETNX: an offset
 * another writer recorded meanwhile stays) and returns what each partition holds afterwards. For a
 * partition a worker was assigned with an offset committed but none recorded (a version its bootstrap
 * handed over, a partition with no batch since): the store holds everything below the committed
 * offset, so a store later restored to before its first batch is found behind from there.
 */
export async function initSourceOffsets(
  store: Store,
  version: string,
  source: OffsetSource,
  offsets: readonly { readonly partition: number; readonly offset: bigint }[],
): Promise<Map<number, bigint | null>> {
  if (offsets.length === 0) return new Map();
  await setWhereNone(store, version, source, offsets);
  return readSourceOffsets(
    store,
    version,
    source,
    offsets.map(({ partition }) => partition),
  );
}

/**
 * The upgrade from the releases that recorded `<topic>:<partition>`: for each of `partitions` whose
 * group and topic have no field in the hash yet (under any topic ID), the legacy field's offset, where
 * there is one, is recorded as `source`'s (HSETNX). It is what that release recorded for this version's
 * workers on this topic, so the first check after the upgrade compares with it as before: no false
 * replay, and a store restored behind (also later, to a snapshot from before the upgrade, which holds
 * no new field) is still found. Once a field of the group and topic exists, the legacy one is left
 * alone: a topic created again later (a new ID) must not take the old log's offset, and a worker of the
 * release before, still running during a rolling update, keeps reading and recording its own field
 * (its offset, behind the new workers' progress, makes it replay that stretch again if it takes a
 * partition back: duplicates, never a loss). Returns the partitions adopted.
 */
export async function adoptLegacySourceOffsets(
  store: Store,
  version: string,
  source: OffsetSource,
  partitions: readonly number[],
): Promise<number[]> {
  if (partitions.length === 0) return [];
  const key = sourceOffsetsKey(store.layout, version);
  const [fieldsResult, legacyResult] = await execBatch(store.client, [
    { key, queue: (pipeline) => pipeline.hkeys(key) },
    {
      key,
      queue: (pipeline) =>
        pipeline.hmget(
          key,
          ...partitions.map((partition) => legacySourceOffsetField(source.topic, partition)),
        ),
    },
  ]);
  for (const result of [fieldsResult!, legacyResult!])
    if (result.error !== null) throw recordFailure(store, "read source offsets", result.error);
  const known = new Set<number>();
  for (const field of fieldsResult!.value as string[]) {
    const [group, topic, , partition, ...rest] = field.split(":");
    if (rest.length === 0 && partition !== undefined && group === source.group && topic === source.topic)
      known.add(Number(partition));
  }
  const legacy = legacyResult!.value as (string | null)[];
  const adopt = partitions.flatMap((partition, index) => {
    const offset = legacy[index] ?? null;
    return offset === null || known.has(partition) ? [] : [{ partition, offset: BigInt(offset) }];
  });
  await setWhereNone(store, version, source, adopt);
  return adopt.map(({ partition }) => partition);
}

/** HSETNX of `source`'s field of each partition: an offset already recorded there stays. */
async function setWhereNone(
  store: Store,
  version: string,
  source: OffsetSource,
  offsets: readonly { readonly partition: number; readonly offset: bigint }[],
): Promise<void> {
  if (offsets.length === 0) return;
  const key = sourceOffsetsKey(store.layout, version);
  const results = await execBatch(
    store.client,
    offsets.map(({ partition, offset }) => ({
      key,
      queue: (pipeline) => pipeline.hsetnx(key, sourceOffsetField(source, partition), offset.toString()),
    })),
  );
  for (const result of results)
    if (result.error !== null) throw recordFailure(store, "record source offsets", result.error);
}
