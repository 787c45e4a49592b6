import { describe, expect, it } from "vitest";
import { TokenRefusals } from "./token-refusals.ts";

describe("TokenRefusals", () => {
  it("retries with growing waits until refused for the bound, then gives up", () => {
    const refusals = new TokenRefusals(10_000, () => 1);
    expect(refusals.refused(1_000)).toBe(500);
    expect(refusals.refused(1_500)).toBe(1_000);
    expect(refusals.refused(2_500)).toBe(2_000);
    expect(refusals.refused(4_500)).toBe(4_000);
    expect(refusals.refused(8_500)).toBe(2_500); // never past the bound (11 000)
    expect(refusals.refused(11_000)).toBeUndefined();
    expect(refusals.refused(20_000)).toBeUndefined();
    expect(refusals.refusedSince).toBe(1_000);
  });

  it("starts a new streak after an accepted call", () => {
    const refusals = new TokenRefusals(10_000, () => 1);
    refusals.refused(0);
    refusals.refused(9_000);
    refusals.accepted();
    expect(refusals.refusedSince).toBeUndefined();
    expect(refusals.refused(50_000)).toBe(500);
    expect(refusals.refusedSince).toBe(50_000);
  });

  it("with a bound of 0 gives up at the first refusal (no retry)", () => {
    expect(new TokenRefusals(0).refused(5)).toBeUndefined();
  });
});
