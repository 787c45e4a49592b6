import { describe, expect, it } from "vitest";
import { bootstrapProgress } from "./measure.ts";

describe("the quickstart's bootstrap progress bar", () => {
  it("counts against the records it seeded until every run reports its total, never '0/1'", () => {
    // Before the shards count their partitions, no run has a total: the seeded snapshot is the total.
    expect(bootstrapProgress([{ processed: 0 }, { processed: 0 }], 2000)).toEqual({ done: 0, total: 2000 });
    // One run counted, the other not yet: still out of what was seeded, not out of 800.
    expect(bootstrapProgress([{ processed: 0 }, { processed: 372, total: 800 }], 2000)).toEqual({
      done: 372,
      total: 2000,
    });
    // Both counted: their own totals.
    expect(
      bootstrapProgress(
        [
          { processed: 600, total: 1200 },
          { processed: 800, total: 800 },
        ],
        2000,
      ),
    ).toEqual({ done: 1400, total: 2000 });
  });
});
