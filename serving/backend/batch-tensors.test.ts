import { describe, expect, it } from "vitest";
import { concatInputs, packBatch, splitInputs } from "./batch-tensors.ts";

describe("packBatch", () => {
  it("right-pads to the longest input with a matching attention mask and zero token types", () => {
    const packed = packBatch([Int32Array.from([101, 7, 102]), Int32Array.from([101, 102])]);
    expect(packed).toMatchObject({ batch: 2, sequenceLength: 3 });
    expect(Array.from(packed.inputIds)).toEqual([101n, 7n, 102n, 101n, 102n, 0n]);
    expect(Array.from(packed.attentionMask)).toEqual([1n, 1n, 1n, 1n, 1n, 0n]);
    expect(Array.from(packed.tokenTypeIds)).toEqual([0n, 0n, 0n, 0n, 0n, 0n]);
    expect(Array.from(packed.lengths)).toEqual([3, 2]);
  });

  it("keeps large vocabulary ids intact", () => {
    expect(Array.from(packBatch([Int32Array.from([250_001])]).inputIds)).toEqual([250_001n]);
  });
});

describe("concatInputs / splitInputs", () => {
  it("round-trip a batch through one buffer", () => {
    const inputs = [Int32Array.from([1, 2, 3]), Int32Array.from([4]), Int32Array.from([5, 6])];
    const { ids, lengths } = concatInputs(inputs);
    expect(Array.from(ids)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(splitInputs(ids, lengths).map((input) => Array.from(input))).toEqual([[1, 2, 3], [4], [5, 6]]);
  });
});
