import { describe, expect, it } from "vitest";
import { halfToFloat32, poolHiddenStates } from "./pooling.ts";

// Two rows, three positions, two dimensions; row 0 has 2 real tokens, row 1 has 3.
const hidden = {
  data: Float32Array.from([1, 2, 3, 4, 99, 99, 10, 20, 30, 40, 50, 60]),
  batch: 2,
  sequenceLength: 3,
  dimensions: 2,
};

describe("poolHiddenStates", () => {
  it("mean pooling averages only the real tokens (padding never leaks in)", () => {
    expect(Array.from(poolHiddenStates(hidden, [2, 3], "mean"))).toEqual([2, 3, 30, 40]);
  });

  it("cls pooling takes the first token", () => {
    expect(Array.from(poolHiddenStates(hidden, [2, 3], "cls"))).toEqual([1, 2, 10, 20]);
  });

  it("last-token pooling takes the last real token of each row", () => {
    expect(Array.from(poolHiddenStates(hidden, [2, 3], "last-token"))).toEqual([3, 4, 50, 60]);
  });
});

describe("halfToFloat32", () => {
  it("decodes normal, subnormal, zero, infinite and NaN half floats", () => {
    const decoded = halfToFloat32(
      Uint16Array.from([0x3c00, 0xc000, 0x3555, 0x0001, 0x0000, 0x7c00, 0xfc00, 0x7e00]),
    );
    expect(decoded[0]).toBe(1);
    expect(decoded[1]).toBe(-2);
    expect(decoded[2]).toBeCloseTo(1 / 3, 3);
    expect(decoded[3]).toBeCloseTo(5.96e-8, 10);
    expect(decoded[4]).toBe(0);
    expect(decoded[5]).toBe(Infinity);
    expect(decoded[6]).toBe(-Infinity);
    expect(decoded[7]).toBeNaN();
  });
});
