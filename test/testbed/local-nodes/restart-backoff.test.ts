import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { podPhase, restartDelayMs, shouldRestart } from "./restart-backoff.ts";

const pod = (restartPolicy?: string): V1Pod => ({ spec: { restartPolicy, containers: [] } }) as V1Pod;
const exited = (exitCode: number, willRestart = false) => ({ running: false, exitCode, willRestart });

describe("restart policy and back-off", () => {
  it("restarts per policy", () => {
    expect(shouldRestart(undefined, 0)).toBe(true);
    expect(shouldRestart("Always", 0)).toBe(true);
    expect(shouldRestart("OnFailure", 0)).toBe(false);
    expect(shouldRestart("OnFailure", 1)).toBe(true);
    expect(shouldRestart("Never", 1)).toBe(false);
  });

  it("restarts the first time at once, then backs off 10 s doubling to 5 min, reset by a long run", () => {
    expect([0, 1, 2, 3, 6, 12].map((count) => restartDelayMs(count, 1_000))).toEqual([
      0, 10_000, 20_000, 40_000, 300_000, 300_000,
    ]);
    expect(restartDelayMs(5, 600_000)).toBe(0);
  });

  it("derives the phase: Succeeded or Failed only when nothing will run again", () => {
    expect(podPhase(pod("Never"), [exited(0), exited(0)], true)).toBe("Succeeded");
    expect(podPhase(pod("Never"), [exited(0), exited(3)], true)).toBe("Failed");
    expect(podPhase(pod("OnFailure"), [exited(3, true)], true)).toBe("Running");
    expect(podPhase(pod("Always"), [exited(0, true)], true)).toBe("Running");
    expect(podPhase(pod("Never"), [{ running: true, exitCode: undefined, willRestart: false }], true)).toBe(
      "Running",
    );
    expect(podPhase(pod("Never"), [{ running: false, exitCode: undefined, willRestart: false }], true)).toBe(
      "Pending",
    );
    expect(podPhase(pod("Never"), [exited(0)], false)).toBe("Pending");
  });
});
