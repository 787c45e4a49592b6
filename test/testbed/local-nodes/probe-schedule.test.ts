import { describe, expect, it } from "vitest";
import { ProbeSchedule } from "./probe-schedule.ts";

describe("probe schedule", () => {
  it("waits initialDelaySeconds, then probes every periodSeconds", () => {
    const probe = new ProbeSchedule("readiness", { initialDelaySeconds: 5, periodSeconds: 2 }, 1_000);
    expect(probe.isDue(5_999)).toBe(false);
    expect(probe.isDue(6_000)).toBe(true);
    probe.record(true, 6_000);
    expect(probe.isDue(7_999)).toBe(false);
    expect(probe.nextDueMs).toBe(8_000);
  });

  it("starts readiness unready, liveness alive and startup unknown", () => {
    expect(new ProbeSchedule("readiness", {}, 0).verdict).toBe("failure");
    expect(new ProbeSchedule("liveness", {}, 0).verdict).toBe("success");
    expect(new ProbeSchedule("startup", {}, 0).verdict).toBe("unknown");
  });

  it("flips only after successThreshold successes or failureThreshold consecutive failures", () => {
    const readiness = new ProbeSchedule("readiness", { successThreshold: 2, failureThreshold: 2 }, 0);
    expect(readiness.record(true, 1)).toBe(false);
    expect(readiness.record(true, 2)).toBe(true);
    expect(readiness.verdict).toBe("success");
    expect(readiness.record(false, 3)).toBe(false);
    readiness.record(true, 4);
    expect(readiness.record(false, 5)).toBe(false);
    expect(readiness.record(false, 6)).toBe(true);
    expect(readiness.verdict).toBe("failure");
  });

  it("declares liveness failed after failureThreshold (default 3) and uses the default timings", () => {
    const liveness = new ProbeSchedule("liveness", {}, 0);
    expect(liveness.periodMs).toBe(10_000);
    expect(liveness.timeoutMs).toBe(1_000);
    liveness.record(false, 1);
    liveness.record(false, 2);
    expect(liveness.verdict).toBe("success");
    expect(liveness.record(false, 3)).toBe(true);
    expect(liveness.verdict).toBe("failure");
  });
});
