import { describe, expect, it } from "vitest";
import { FailureStreaks } from "./failure-streaks.ts";

const policy = { afterMs: 60_000, minFailures: 3 };

describe("failure streaks", () => {
  it("reports a key only once it failed at least minFailures times over at least afterMs", () => {
    const streaks = new FailureStreaks(policy);
    expect(streaks.failed("ns/a", 0)).toBeUndefined();
    expect(streaks.failed("ns/a", 61_000)).toBeUndefined(); // old enough, but only the second failure
    expect(streaks.failed("ns/a", 62_000)).toEqual({ sinceMs: 0, failures: 3 });
  });

  it("does not report many quick failures before afterMs has passed", () => {
    const streaks = new FailureStreaks(policy);
    for (let failure = 0; failure < 12; failure += 1)
      expect(streaks.failed("ns/a", failure * 5_000)).toBeUndefined(); // 0 .. 55 s
    expect(streaks.failed("ns/a", 60_000)).toEqual({ sinceMs: 0, failures: 13 });
  });

  it("reports again at most once per afterMs while the streak lasts", () => {
    const streaks = new FailureStreaks(policy);
    streaks.failed("ns/a", 0);
    streaks.failed("ns/a", 30_000);
    expect(streaks.failed("ns/a", 60_000)).toBeDefined();
    expect(streaks.failed("ns/a", 61_000)).toBeUndefined();
    expect(streaks.failed("ns/a", 119_000)).toBeUndefined();
    expect(streaks.failed("ns/a", 120_000)).toEqual({ sinceMs: 0, failures: 6 });
  });

  it("starts over after a success, and keeps keys apart", () => {
    const streaks = new FailureStreaks(policy);
    for (const at of [0, 30_000, 60_000]) streaks.failed("ns/a", at);
    streaks.failed("ns/b", 0);
    streaks.succeeded("ns/a");
    expect(streaks.size).toBe(1);
    expect(streaks.failed("ns/a", 70_000)).toBeUndefined();
    expect(streaks.failed("ns/a", 100_000)).toBeUndefined();
    expect(streaks.failed("ns/a", 130_000)).toEqual({ sinceMs: 70_000, failures: 3 });
    expect(streaks.failed("ns/b", 1_000)).toBeUndefined();
  });
});
