import { describe, expect, it } from "vitest";
import {
  defaultWatchInactivityMs,
  watchDeadMs,
  watchTimeoutGraceMs,
  watchTimeoutSeconds,
} from "./watch-liveness.ts";

describe("watchTimeoutSeconds", () => {
  it.each([
    [0, 60],
    [0.5, 90],
    [0.9999, 119],
  ])("random %f picks %i s in [min, 2*min)", (random, expected) => {
    expect(watchTimeoutSeconds(60, random)).toBe(expected);
  });
});

describe("watchDeadMs", () => {
  const watch = { startedMs: 1_000_000, timeoutSeconds: 100, inactivityMs: defaultWatchInactivityMs };

  it.each([
    // [last message after start (ms), given up after start (ms), why]
    [0, 90_000, "silent since it started"],
    [60_000, 115_000, "a bookmark at 60 s, then the timeout's bound comes first"],
    [20_000, 110_000, "a bookmark at 20 s, then 90 s of silence"],
    [99_000, 115_000, "messages to the end: still given up after its timeout"],
  ])("last message at +%i ms: dead at +%i ms (%s)", (lastMessage, dead) => {
    expect(watchDeadMs({ ...watch, lastMessageMs: watch.startedMs + lastMessage }) - watch.startedMs).toBe(
      dead,
    );
  });

  it("gives a healthy watch (a bookmark about every minute, ended at its timeout) the time it needs", () => {
    // The API server's cadence for a 119 s watch: bookmarks at ~60 s and 117 s, end at 119 s.
    const healthy = { ...watch, timeoutSeconds: 119 };
    expect(watchDeadMs({ ...healthy, lastMessageMs: healthy.startedMs })).toBeGreaterThan(
      healthy.startedMs + 61_000,
    );
    expect(watchDeadMs({ ...healthy, lastMessageMs: healthy.startedMs + 117_000 })).toBeGreaterThanOrEqual(
      healthy.startedMs + 119_000 + watchTimeoutGraceMs,
    );
  });
});
