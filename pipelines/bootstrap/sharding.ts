/**
 * How a run's work is split over the N indexes of its Job. Every shard computes its own share from
 * the same inputs, so no coordination is needed and a restarted shard gets the same share again.
 *
 * - Kafka: whole partitions, `partition % N == index`. A partition is the unit of order and of
 *   compaction (a key lives in one partition), so a shard can keep the latest value per key on its
 *   own. With more shards than partitions the extra shards have nothing to do and finish at once.
 * - Files, split `file`: whole files, `fileIndex % N == index`; each byte is read once. Balance depends
 *   on the files being of similar size, which exports usually are (one file per table chunk).
 * - Files, split `id`: every shard reads every file and keeps the lines whose entity id hashes to it
 *   (`fnv1a32("<entity>:<id>") % N`, the hash of the store layout); balanced whatever the file sizes,
 *   at the price of reading everything N times. `auto` picks `file` when there are at least N files.
 */
import { fnv1a32, recordField } from "../../store/index.ts";

/** The partitions shard `index` of `count` reads, in ascending order. */
export function partitionsOfShard(partitions: readonly number[], count: number, index: number): number[] {
  return [...new Set(partitions)].filter((partition) => partition % count === index).sort((a, b) => a - b);
}

/** A file a shard reads, with its position in the run's list (the checkpoint's unit id). */
export interface ShardFile {
  readonly fileIndex: number;
  readonly uri: string;
}

/** The files shard `index` reads and whether it must filter their lines by id. */
export interface FileShare {
  readonly split: "file" | "id";
  readonly files: ShardFile[];
}

/** Resolves the file split and this shard's files. */
export function filesOfShard(
  uris: readonly string[],
  split: "auto" | "file" | "id",
  count: number,
  index: number,
): FileShare {
  const resolved = split === "auto" ? (uris.length >= count ? "file" : "id") : split;
  const all = uris.map((uri, fileIndex) => ({ fileIndex, uri }));
  return {
    split: resolved,
    files: resolved === "file" ? all.filter((file) => file.fileIndex % count === index) : all,
  };
}

/** True when entity `id` belongs to shard `index` of `count` under the `id` split. */
export function ownsEntity(entity: string, id: string, count: number, index: number): boolean {
  return fnv1a32(recordField(entity, id)) % count === index;
}
