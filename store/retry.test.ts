import { describe, expect, it } from "vitest";
import { backoffDelayMs } from "./retry.ts";

describe("retry backoff", () => {
  const policy = { deadlineMs: 10_000, initialDelayMs: 100, maxDelayMs: 1_000 };

  it("doubles per attempt between half and all of the ceiling", () => {
    expect(backoffDelayMs(policy, 1, () => 0)).toBe(50);
    expect(backoffDelayMs(policy, 1, () => 1)).toBe(100);
    expect(backoffDelayMs(policy, 3, () => 1)).toBe(400);
  });

  it("never exceeds the cap", () => {
    expect(backoffDelayMs(policy, 30, () => 1)).toBe(1_000);
  });
});
