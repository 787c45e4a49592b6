import { describe, expect, it } from "vitest";
import { Permits } from "./permits.ts";

describe("Permits", () => {
  it("grants up to the limit and refuses beyond it without waiting", () => {
    const permits = new Permits(3);
    const first = permits.tryAcquire(2);
    expect(first?.count).toBe(2);
    expect(permits.tryAcquire(2)).toBeUndefined();
    expect(permits.inUse).toBe(2);
    expect(permits.tryAcquire(1)).toBeDefined();
    expect(permits.inUse).toBe(3);
  });

  it("returns permits once, however often release is called", () => {
    const permits = new Permits(2);
    const permit = permits.tryAcquire(2);
    permit?.release();
    permit?.release();
    expect(permits.inUse).toBe(0);
  });

  it("rejects nonsensical limits", () => {
    expect(() => new Permits(0)).toThrow(RangeError);
  });
});
