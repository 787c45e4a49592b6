import { describe, expect, it } from "vitest";
import { DropBudget, type DropCutReason } from "./drop-budget.ts";

function observed() {
  const seen = { dropped: 0, cuts: [] as DropCutReason[] };
  return {
    seen,
    observer: {
      dropped: (bytes: number) => (seen.dropped += bytes),
      cut: (reason: DropCutReason) => seen.cuts.push(reason),
    },
  };
}

describe("DropBudget", () => {
  it("grants at most maxConcurrent drops at once, and another once one is released", () => {
    const { seen, observer } = observed();
    const budget = new DropBudget({ maxConcurrent: 2, burstBytes: 100, bytesPerSecond: 0 }, observer);
    const first = budget.acquire();
    expect(budget.acquire()).toBeDefined();
    expect(budget.acquire()).toBeUndefined();
    expect(seen.cuts).toEqual(["concurrent"]);
    first!.release();
    first!.release(); // a second release gives nothing more back
    expect(budget.acquire()).toBeDefined();
    expect(budget.acquire()).toBeUndefined();
  });

  it("shares its bytes across drops and refuses a take beyond them", () => {
    const { seen, observer } = observed();
    const budget = new DropBudget({ maxConcurrent: 2, burstBytes: 100, bytesPerSecond: 0 }, observer);
    const first = budget.acquire()!;
    const second = budget.acquire()!;
    expect(first.take(60)).toBe(true);
    expect(second.take(60)).toBe(false);
    expect(second.take(40)).toBe(true);
    expect(seen).toEqual({ dropped: 100, cuts: ["bytes"] });
  });

  it("refills its bytes over time, up to the burst", async () => {
    const budget = new DropBudget({ maxConcurrent: 1, burstBytes: 100, bytesPerSecond: 10_000 });
    const permit = budget.acquire()!;
    expect(permit.take(100)).toBe(true);
    const since = performance.now();
    while (performance.now() - since < 20) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(permit.take(100)).toBe(true); // 20 ms at 10,000 B/s: 200 bytes, capped at 100
    expect(permit.take(50)).toBe(false);
  });
});
