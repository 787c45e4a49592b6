import { describe, expect, it } from "vitest";
import { splitBySize, toMessage } from "./output-producer.ts";
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

describe("toMessage", () => {
  it("sends carried headers first, repeated names each, then the record's own; counts them in the size", () => {
    const carried: OutputRecord = {
      topic: "dlq",
      key: "k",
      value: "v",
      headers: { "jude.error.code": "MISSING_ID" },
      carriedHeaders: [
        ["baggage", Buffer.from("a=1")],
        ["baggage", Buffer.from("b=2")],
      ],
    };
    const headers = [...toMessage(carried).headers].map(([name, value]) => [String(name), String(value)]);
    expect(headers).toEqual([
      ["baggage", "a=1"],
      ["baggage", "b=2"],
      ["jude.error.code", "MISSING_ID"],
    ]);
    // 2 + 2 x (7 + 3) + (15 + 10) bytes: one 47-byte record fits a 47-byte budget alone, two do not.
    expect(splitBySize([carried, carried], 47)).toHaveLength(2);
    expect(splitBySize([carried, carried], 94)).toHaveLength(1);
  });
});
