import { describe, expect, it } from "vitest";
import { statusRefreshMs, ThroughputTracker } from "./throughput.ts";

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

describe("ThroughputTracker between status updates", () => {
  it("keeps the busy figure while status refreshes may still bring a higher counter", () => {
    const tracker = new ThroughputTracker(60_000, 45_000);
    tracker.record("jobs", 0, 0);
    tracker.record("jobs", 300, 30_000);
    expect(tracker.rate("jobs", 60_000)).toBe(10);
  });

  it("falls to zero when an idle pipeline sends no status update at all", () => {
    // The operator writes a pipeline's status only when it changed: an idle pipeline is silent.
    const tracker = new ThroughputTracker(60_000, 45_000);
    tracker.record("jobs", 0, 0);
    tracker.record("jobs", 300, 30_000);
    expect(tracker.rate("jobs", 90_000)).toBeLessThan(10);
    expect(tracker.rate("jobs", 150_000)).toBe(0);
  });

  it("reads zero for a pipeline that was idle before the dashboard started", () => {
    const tracker = new ThroughputTracker(60_000, 45_000);
    tracker.record("jobs", 1_200, 0);
    expect(tracker.rate("jobs", 10_000)).toBeUndefined();
    expect(tracker.rate("jobs", 60_000)).toBe(0);
  });

  it("waits one and a half of the operator's status refreshes by default", async () => {
    const { pipelinePollMs } = await import("../../../controllers/nearline-pipeline/reconcile.ts");
    expect(statusRefreshMs).toBe(pipelinePollMs);
    const tracker = new ThroughputTracker();
    tracker.record("jobs", 0, 0);
    tracker.record("jobs", 300, 30_000);
    expect(tracker.rate("jobs", 30_000 + 45_000)).toBe(10);
    expect(tracker.rate("jobs", 30_000 + 45_001)).toBeLessThan(10);
  });
});
