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
    {
      incoming: [1000, 0, 1],
      stored: [1000, 99, 0],
      newer: true,
      why: "same time, another partition: the higher partition wins (a key moved to an added partition)",
    },
    {
      incoming: [1000, 99, 0],
      stored: [1000, 0, 1],
      newer: false,
      why: "same time, another partition: a lower partition loses whatever its offset",
    },
    {
      incoming: [1000, 5, 1],
      stored: [1000, 5, 0],
      newer: true,
      why: "same time and offset on another partition is another event, not a replay",
    },
    {
      incoming: [1000, 0, 0],
      stored: [1000, 0, -1],
      newer: true,
      why: "a Kafka event wins a tie with a file row",
    },
    { incoming: [999, 0, 5], stored: [1000, 9, 0], newer: false, why: "event time leads over partition" },
  ])("$why", ({ incoming, stored, newer }) => {
    const at = ([eventTimeMs, offset, partition]: number[]) => ({
      eventTimeMs: eventTimeMs as number,
      offset: offset as number,
      partition,
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
    // No partition is partition -1 (file rows).
    expect(comparePositions(a, { ...a, partition: -1 })).toBe(0);
  });

  it("rejects positions Lua could not compare exactly", () => {
    expect(() => assertPosition({ eventTimeMs: 2 ** 53, offset: 0 })).toThrow(/eventTimeMs/);
    expect(() => assertPosition({ eventTimeMs: -1, offset: 0 })).toThrow(/eventTimeMs/);
    expect(() => assertPosition({ eventTimeMs: 1, offset: 1.5 })).toThrow(/offset/);
    expect(() => assertPosition({ eventTimeMs: 1, offset: Number.NaN })).toThrow(/offset/);
    expect(() => assertPosition({ eventTimeMs: 1, offset: 0, partition: -2 })).toThrow(/partition/);
    expect(() => assertPosition({ eventTimeMs: 1, offset: 0, partition: 0.5 })).toThrow(/partition/);
  });
});
