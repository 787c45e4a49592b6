import { describe, expect, it } from "vitest";
import { assertPosition, comparePositions, isNewer } from "./ordering.ts";

describe("write ordering", () => {
  it.each([
    {
      incoming: [2000, 0],
      stored: [1000, 99],
      newer: true,
      why: "later event time wins even with a lower offset",
    },
    { incoming: [1000, 99], stored: [2000, 0], newer: false, why: "earlier event time loses" },
    { incoming: [1000, 6], stored: [1000, 5], newer: true, why: "same time: higher offset wins" },
    { incoming: [1000, 4], stored: [1000, 5], newer: false, why: "same time: lower offset loses" },
    { incoming: [1000, 5], stored: [1000, 5], newer: false, why: "equal position is a replay: no-op" },
  ])("$why", ({ incoming, stored, newer }) => {
    const at = ([eventTimeMs, offset]: number[]) => ({
      eventTimeMs: eventTimeMs as number,
      offset: offset as number,
    });
    expect(isNewer(at(incoming), at(stored))).toBe(newer);
  });

  it("accepts anything over nothing stored", () => {
    expect(isNewer({ eventTimeMs: 0, offset: 0 }, null)).toBe(true);
  });

  it("is a total order", () => {
    const a = { eventTimeMs: 5, offset: 1 };
    const b = { eventTimeMs: 5, offset: 2 };
    expect(comparePositions(a, b)).toBeLessThan(0);
    expect(comparePositions(b, a)).toBeGreaterThan(0);
    expect(comparePositions(a, { ...a })).toBe(0);
  });

  it("rejects positions Lua could not compare exactly", () => {
    expect(() => assertPosition({ eventTimeMs: 2 ** 53, offset: 0 })).toThrow(/eventTimeMs/);
    expect(() => assertPosition({ eventTimeMs: -1, offset: 0 })).toThrow(/eventTimeMs/);
    expect(() => assertPosition({ eventTimeMs: 1, offset: 1.5 })).toThrow(/offset/);
    expect(() => assertPosition({ eventTimeMs: 1, offset: Number.NaN })).toThrow(/offset/);
  });
});
