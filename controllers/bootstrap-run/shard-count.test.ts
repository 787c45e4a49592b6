import { describe, expect, it } from "vitest";
import { partitionsOfShard } from "../../pipelines/bootstrap/sharding.ts";
import { maxPromotionShards, promotionShardCount } from "./shard-count.ts";

describe("shards of an operator-created BootstrapRun (decision table)", () => {
  it.each([
    [1, 1],
    [2, 2],
    [3, 3],
    [12, 12],
    [16, 16],
    [17, 9],
    [24, 12],
    [32, 16],
    [64, 16],
    [100, 15],
    [0, 1],
  ])("%i partitions -> %i shards", (partitions, shards) => {
    expect(promotionShardCount(partitions)).toBe(shards);
  });

  it("never leaves a shard without a partition, and no shard reads more than the fewest possible", () => {
    for (let partitions = 1; partitions <= 200; partitions++) {
      const shards = promotionShardCount(partitions);
      const all = Array.from({ length: partitions }, (_, index) => index);
      const loads = Array.from(
        { length: shards },
        (_, index) => partitionsOfShard(all, shards, index).length,
      );
      expect(Math.min(...loads), `${partitions} partitions`).toBeGreaterThan(0);
      expect(Math.max(...loads)).toBe(Math.ceil(partitions / Math.min(partitions, maxPromotionShards)));
    }
  });

  it("honours a smaller cap", () => {
    expect(promotionShardCount(8, 4)).toBe(4);
    expect(promotionShardCount(8, 0)).toBe(1);
  });
});
