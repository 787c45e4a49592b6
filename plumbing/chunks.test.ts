import { describe, expect, it } from "vitest";
import { chunk, chunkWithin } from "./chunks.ts";

describe("chunk", () => {
  it("cuts consecutive pieces of at most the size, in order", () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([1, 2], 5)).toEqual([[1, 2]]);
    expect(chunk([], 3)).toEqual([]);
  });

  it("refuses a size that would never advance", () => {
    expect(() => chunk([1], 0)).toThrow(RangeError);
    expect(() => chunk([1], 1.5)).toThrow(RangeError);
  });
});

describe("chunkWithin", () => {
  const weight = (text: string): number => text.length;

  it("also keeps each piece's total weight within the limit, in order", () => {
    expect(chunkWithin(["aa", "bb", "c", "dddd", "e"], 10, 4, weight)).toEqual([
      ["aa", "bb"],
      ["c"],
      ["dddd"],
      ["e"],
    ]);
    expect(chunkWithin(["a", "b", "c", "d", "e"], 2, 100, weight)).toEqual([["a", "b"], ["c", "d"], ["e"]]);
  });

  it("gives an item heavier than the limit a piece of its own", () => {
    expect(chunkWithin(["a", "heavy", "b"], 10, 3, weight)).toEqual([["a"], ["heavy"], ["b"]]);
    expect(chunkWithin(["heavy"], 10, 3, weight)).toEqual([["heavy"]]);
  });

  it("refuses a weight limit that is not positive", () => {
    expect(() => chunkWithin(["a"], 1, 0, weight)).toThrow(RangeError);
    expect(() => chunkWithin(["a"], 1, Number.NaN, weight)).toThrow(RangeError);
  });
});
