import { describe, expect, it } from "vitest";
import { planSubBatches } from "./sub-batches.ts";

const flat = (groups: number[][]): number[] => groups.flat().sort((a, b) => a - b);

describe("planSubBatches", () => {
  it("keeps a batch of equal lengths whole", () => {
    expect(planSubBatches([18, 18, 18, 18], 32)).toEqual([[0, 1, 2, 3]]);
  });

  it("splits where the padding saved outweighs the cost of another run", () => {
    // 8 texts of 10 tokens and 8 of 30: whole = 16 x 30 = 480 tokens; split = 80 + 240 + 32 = 352.
    const lengths = [10, 30, 10, 30, 10, 30, 10, 30, 10, 30, 10, 30, 10, 30, 10, 30];
    const groups = planSubBatches(lengths, 32);
    expect(groups).toHaveLength(2);
    expect(groups[0]!.every((index) => lengths[index] === 10)).toBe(true);
    expect(groups[1]!.every((index) => lengths[index] === 30)).toBe(true);
  });

  it("does not split when another run costs more than the padding", () => {
    // Whole: 4 x 20 = 80; split: 19 + 3 x 20 + 32 = 111.
    expect(planSubBatches([19, 20, 20, 20], 32)).toEqual([[0, 1, 2, 3]]);
  });

  it("never splits with an unaffordable run cost, and splits every length with a free one", () => {
    const lengths = [16, 17, 18, 19, 20, 16, 20];
    expect(planSubBatches(lengths, 1e9)).toHaveLength(1);
    expect(planSubBatches(lengths, 0)).toHaveLength(5);
  });

  it("returns every index exactly once", () => {
    const lengths = Array.from({ length: 64 }, (_, index) => 16 + ((index * 7) % 5));
    expect(flat(planSubBatches(lengths, 32))).toEqual(lengths.map((_, index) => index));
    expect(planSubBatches([], 32)).toEqual([]);
    expect(planSubBatches([5], 32)).toEqual([[0]]);
  });
});
