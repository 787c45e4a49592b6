import { describe, expect, it } from "vitest";
import { lagStaleMs, lagStands } from "./worker.ts";

describe("lagStands", () => {
  it("keeps a lag figure for six checks, then takes it as unknown", () => {
    const checkedAt = 1_000_000;
    expect(lagStands(checkedAt, checkedAt)).toBe(true);
    expect(lagStands(checkedAt, checkedAt + lagStaleMs)).toBe(true);
    // A worker whose checks failed (cut off from the broker) stops reporting its last figure.
    expect(lagStands(checkedAt, checkedAt + lagStaleMs + 1)).toBe(false);
    expect(lagStaleMs).toBe(30_000);
  });

  it("has no figure before the first check", () => {
    expect(lagStands(undefined, 0)).toBe(false);
  });
});
