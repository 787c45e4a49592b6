import { describe, expect, it } from "vitest";
import { fromFloat16Bits, toFloat16Bits } from "./float16.ts";

describe("float16 conversion", () => {
  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff], // largest finite half
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [0.333251953125, 0x3555],
  ])("encodes %s exactly as bits %i", (value, bits) => {
    expect(toFloat16Bits(value)).toBe(bits);
    expect(fromFloat16Bits(bits)).toBe(value);
  });

  it("rounds to nearest, ties to even", () => {
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toFloat16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
  });

  it("overflows to infinity and underflows to zero", () => {
    expect(toFloat16Bits(70000)).toBe(0x7c00);
    expect(toFloat16Bits(-70000)).toBe(0xfc00);
    expect(toFloat16Bits(2 ** -26)).toBe(0x0000);
    expect(fromFloat16Bits(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(fromFloat16Bits(0x7e00)).toBeNaN();
  });

  it("round-trips every finite half value", () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const exponent = (bits >> 10) & 0x1f;
      if (exponent === 0x1f) continue;
      expect(toFloat16Bits(fromFloat16Bits(bits))).toBe(bits);
    }
  });
});
