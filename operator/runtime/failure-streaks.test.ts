import { describe, expect, it } from "vitest";
import { FailureStreaks } from "./failure-streaks.ts";

const policy = { afterMs: 60_000, minFailures: 3 };

const first = (sinceMs: number) => ({ sinceMs, failures: 1, persistent: false });

describe("failure streaks", () => {
  // Was: nothing reported before the streak was persistent, so the object's status kept the last
  // successful reconcile's message for up to afterMs (60 s) after its reconciles began to fail.
  it("reports the first failure of a streak at once, as not persistent yet, and nothing more until it is", () => {
    const streaks = new FailureStreaks(policy);
    expect(streaks.failed("ns/a", 0)).toEqual(first(0));
    expect(streaks.failed("ns/a", 5)).toBeUndefined();
    expect(streaks.failed("ns/a", 30_000)).toBeUndefined();
    expect(streaks.failed("ns/a", 60_000)).toEqual({ sinceMs: 0, failures: 4, persistent: true });
  });

  it("reports a key as persistent only once it failed at least minFailures times over at least afterMs", () => {
    const streaks = new FailureStreaks(policy);
    expect(streaks.failed("ns/a", 0)).toEqual(first(0));
    expect(streaks.failed("ns/a", 61_000)).toBeUndefined(); // old enough, but only the second failure
    expect(streaks.failed("ns/a", 62_000)).toEqual({ sinceMs: 0, failures: 3, persistent: true });
  });

  it("does not report many quick failures as persistent before afterMs has passed", () => {
    const streaks = new FailureStreaks(policy);
    expect(streaks.failed("ns/a", 0)).toEqual(first(0));
    for (let failure = 1; failure < 12; failure += 1)
      expect(streaks.failed("ns/a", failure * 5_000)).toBeUndefined(); // 5 .. 55 s
    expect(streaks.failed("ns/a", 60_000)).toEqual({ sinceMs: 0, failures: 13, persistent: true });
  });

  it("reports again at most once per afterMs while the streak lasts", () => {
    const streaks = new FailureStreaks(policy);
    streaks.failed("ns/a", 0);
    streaks.failed("ns/a", 30_000);
    expect(streaks.failed("ns/a", 60_000)).toBeDefined();
    expect(streaks.failed("ns/a", 61_000)).toBeUndefined();
    expect(streaks.failed("ns/a", 119_000)).toBeUndefined();
    expect(streaks.failed("ns/a", 120_000)).toEqual({ sinceMs: 0, failures: 6, persistent: true });
  });

  it("starts over after a success, and keeps keys apart", () => {
    const streaks = new FailureStreaks(policy);
    for (const at of [0, 30_000, 60_000]) streaks.failed("ns/a", at);
    streaks.failed("ns/b", 0);
    streaks.succeeded("ns/a");
    expect(streaks.size).toBe(1);
    expect(streaks.failed("ns/a", 70_000)).toEqual(first(70_000));
    expect(streaks.failed("ns/a", 100_000)).toBeUndefined();
    expect(streaks.failed("ns/a", 130_000)).toEqual({ sinceMs: 70_000, failures: 3, persistent: true });
    expect(streaks.failed("ns/b", 1_000)).toBeUndefined();
  });
});
