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
 * records offsets also waits on that primary), field `<topic>:<partition>`, value the offset
 * (decimal). Deleted with the version's bucket 0 by garbage collection.
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

/** The hash field of a topic-partition: `<topic>:<partition>`. */
export function sourceOffsetField(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

/** One offset to record with a write round. */
export interface SourceOffsetMark {
  readonly version: string;
  readonly topic: string;
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
    sourceOffsetField(mark.topic, mark.partition),
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

/** The recorded offsets of `partitions` of `topic` in `version` (null where none is recorded). */
export async function readSourceOffsets(
  store: Store,
  version: string,
  topic: string,
  partitions: readonly number[],
): Promise<Map<number, bigint | null>> {
  const offsets = new Map<number, bigint | null>();
  if (partitions.length === 0) return offsets;
  const key = sourceOffsetsKey(store.layout, version);
  const fields = partitions.map((partition) => sourceOffsetField(topic, partition));
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
 * Records `offsets` of `topic` in `version` for the partitions that have none (HSETNX: an offset
 * another writer recorded meanwhile stays) and returns what each partition holds afterwards. For a
 * partition a worker was assigned with an offset committed but none recorded (a version its bootstrap
 * handed over, a partition with no batch since): the store holds everything below the committed
 * offset, so a store later restored to before its first batch is found behind from there.
 */
export async function initSourceOffsets(
  store: Store,
  version: string,
  topic: string,
  offsets: readonly { readonly partition: number; readonly offset: bigint }[],
): Promise<Map<number, bigint | null>> {
  if (offsets.length === 0) return new Map();
  const key = sourceOffsetsKey(store.layout, version);
  const results = await execBatch(
    store.client,
    offsets.map(({ partition, offset }) => ({
      key,
      queue: (pipeline) => pipeline.hsetnx(key, sourceOffsetField(topic, partition), offset.toString()),
    })),
  );
  for (const result of results)
    if (result.error !== null) throw recordFailure(store, "record source offsets", result.error);
  return readSourceOffsets(
    store,
    version,
    topic,
    offsets.map(({ partition }) => partition),
  );
}
