import { describe, expect, it } from "vitest";
import { splitBySize } from "./output-producer.ts";
import type { OutputRecord } from "./records.ts";

const record = (bytes: number): OutputRecord => ({
  topic: "t",
  key: undefined,
  value: Buffer.alloc(bytes),
  headers: {},
});

describe("splitBySize", () => {
  it("keeps order and each send under the budget; a record over it goes alone", () => {
    const records = [record(400), record(400), record(900), record(100), record(100)];
    const parts = splitBySize(records, 1000);
    expect(parts.map((part) => part.map((each) => (each.value as Buffer).length))).toEqual([
      [400, 400],
      [900, 100],
      [100],
    ]);
    expect(splitBySize([record(5000)], 1000)).toHaveLength(1);
    expect(splitBySize([], 1000)).toEqual([]);
  });
});
