import { describe, expect, it } from "vitest";
import { addedWhileAway } from "./partition-watch.ts";

describe("partitions added while no worker ran (startOffset latest)", () => {
  it("are the uncommitted partitions above the highest committed one", () => {
    // Partitions 3 and 4 were added after the group committed 0-2.
    expect(addedWhileAway([5n, 0n, 7n, -1n, -1n], 5)).toEqual([3, 4]);
    // Absent from the answer is uncommitted too.
    expect(addedWhileAway([5n], 3)).toEqual([1, 2]);
  });

  it("leave out an uncommitted partition below a committed one: it was there when the version started", () => {
    // A quiet partition of a busy version with no bootstrap: its history is older than the start.
    expect(addedWhileAway([5n, -1n, 7n], 3)).toEqual([]);
    expect(addedWhileAway([5n, -1n, 7n, -1n], 4)).toEqual([3]);
  });

  it("are none at a version's first start (nothing committed) or when every partition is committed", () => {
    expect(addedWhileAway([-1n, -1n], 2)).toEqual([]);
    expect(addedWhileAway([], 2)).toEqual([]);
    expect(addedWhileAway([0n, 0n, 3n], 3)).toEqual([]);
  });
});
