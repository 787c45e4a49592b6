import { describe, expect, it } from "vitest";
import { ThroughputTracker } from "./throughput.ts";

describe("ThroughputTracker", () => {
  it("has no rate until two readings exist", () => {
    const tracker = new ThroughputTracker();
    expect(tracker.rate("jobs")).toBeUndefined();
    tracker.record("jobs", 100, 0);
    expect(tracker.rate("jobs")).toBeUndefined();
  });

  it("derives events per second from the counter's movement", () => {
    const tracker = new ThroughputTracker();
    tracker.record("jobs", 100, 0);
    tracker.record("jobs", 400, 2_000);
    tracker.record("jobs", 700, 4_000);
    expect(tracker.rate("jobs")).toBe(150);
    expect(tracker.rate("profiles")).toBeUndefined();
  });

  it("looks back over the window only", () => {
    const tracker = new ThroughputTracker(10_000);
    tracker.record("jobs", 0, 0);
    tracker.record("jobs", 1_000, 10_000);
    tracker.record("jobs", 1_100, 20_000);
    expect(tracker.rate("jobs")).toBe(10);
  });

  it("falls to zero when the counter stops moving", () => {
    const tracker = new ThroughputTracker(10_000);
    tracker.record("jobs", 0, 0);
    tracker.record("jobs", 500, 5_000);
    tracker.record("jobs", 500, 15_000);
    tracker.record("jobs", 500, 25_000);
    expect(tracker.rate("jobs")).toBe(0);
  });

  it("starts afresh when the counter goes down (workers restarted)", () => {
    const tracker = new ThroughputTracker();
    tracker.record("jobs", 900, 0);
    tracker.record("jobs", 10, 1_000);
    expect(tracker.rate("jobs")).toBeUndefined();
    tracker.record("jobs", 30, 2_000);
    expect(tracker.rate("jobs")).toBe(20);
  });
});
