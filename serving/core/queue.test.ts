import { describe, expect, it } from "vitest";
import { BatchQueue, selectBatch, type Queued } from "./queue.ts";

interface Item extends Queued {
  name: string;
}

let clock = 0;
const item = (name: string, tokenCount: number, cancelled = false): Item => ({
  name,
  tokenCount,
  enqueuedAt: clock++,
  cancelled,
});
const names = (items: readonly Item[]) => items.map((entry) => entry.name).sort();

describe("selectBatch (token budget, length bucketing around the oldest entry)", () => {
  it("always includes the oldest entry, so nothing starves", () => {
    const live = [
      item("old-long", 200),
      ...Array.from({ length: 20 }, (_, index) => item(`short${index}`, 10)),
    ];
    expect(selectBatch(live, { maxBatchTokens: 4096, maxBatchSize: 4 }).map((entry) => entry.name)).toContain(
      "old-long",
    );
  });

  it("groups entries of similar length instead of padding short ones to long ones", () => {
    const live = [item("a10", 10), item("b200", 200), item("c12", 12), item("d190", 190), item("e11", 11)];
    expect(names(selectBatch(live, { maxBatchTokens: 10_000, maxBatchSize: 3 }))).toEqual([
      "a10",
      "c12",
      "e11",
    ]);
  });

  it("keeps the padded cost (longest x size) within maxBatchTokens", () => {
    const live = Array.from({ length: 10 }, (_, index) => item(`t${index}`, 100));
    const batch = selectBatch(live, { maxBatchTokens: 350, maxBatchSize: 64 });
    expect(batch).toHaveLength(3);
  });

  it("stops at maxBatchSize", () => {
    const live = Array.from({ length: 10 }, (_, index) => item(`t${index}`, 5));
    expect(selectBatch(live, { maxBatchTokens: 10_000, maxBatchSize: 4 })).toHaveLength(4);
  });

  it("prefers older entries among equal lengths", () => {
    const live = Array.from({ length: 6 }, (_, index) => item(`t${index}`, 5));
    expect(names(selectBatch(live, { maxBatchTokens: 10_000, maxBatchSize: 3 }))).toEqual(["t0", "t1", "t2"]);
  });
});

describe("BatchQueue", () => {
  it("drops cancelled entries before batching and hands them to onDropped", () => {
    const queue = new BatchQueue<Item>({ maxBatchTokens: 1000, maxBatchSize: 8 });
    queue.push(item("gone", 10, true));
    queue.push(item("kept", 10));
    const dropped: string[] = [];
    expect(queue.takeBatch((entry) => dropped.push(entry.name)).map((entry) => entry.name)).toEqual(["kept"]);
    expect(dropped).toEqual(["gone"]);
    expect(queue.size).toBe(0);
    expect(queue.tokens).toBe(0);
  });

  it("tracks waiting tokens and whether a full batch is waiting", () => {
    const queue = new BatchQueue<Item>({ maxBatchTokens: 100, maxBatchSize: 3 });
    queue.push(item("a", 40));
    queue.push(item("b", 40));
    expect(queue.tokens).toBe(80);
    expect(queue.canFillBatch()).toBe(false);
    queue.push(item("c", 40));
    expect(queue.canFillBatch()).toBe(true);
    expect(queue.takeBatch()).toHaveLength(2); // 3 x 40 would exceed the 100-token budget
    expect(queue.size).toBe(1);
    expect(queue.tokens).toBe(40);
  });
});
