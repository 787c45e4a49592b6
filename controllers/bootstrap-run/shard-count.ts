// How many shards a BootstrapRun the operator creates for a promotion gets. A Kafka snapshot is split
// by whole partitions (`partition % shards`, pipelines/bootstrap/sharding.ts), so shards beyond the
// partition count would start a model process each and find nothing to read. The count is therefore
// the changelog's partition count, capped so one promotion cannot start more model processes than a
// cluster expects, and, above the cap, the fewest shards that still give every shard the smallest
// possible number of partitions (24 partitions -> 12 shards of 2, not 16 shards of 1 or 2). The
// NearlinePipeline has no bootstrap settings of its own; a user who wants another count creates the
// run (same pipeline and version) with its own spec.parallelism, and the promotion adopts it.
/** Most shards an operator-created run gets (spec.parallelism allows up to 256). */
export const maxPromotionShards = 16;

/** Shards for a Kafka snapshot of a changelog with `partitions` partitions. Pure. */
export function promotionShardCount(partitions: number, maxShards = maxPromotionShards): number {
  const limit = Math.max(1, Math.floor(maxShards));
  if (!Number.isFinite(partitions) || partitions < 1) return 1;
  const perShard = Math.ceil(partitions / limit);
  return Math.ceil(partitions / perShard);
}
