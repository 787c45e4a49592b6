import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { buildPodStatus, toApiJson, type PodFacts } from "./pod-status.ts";

const earlier = "2026-12-01T10:00:00Z";
const pod = {
  metadata: { name: "p" },
  spec: { containers: [] },
  status: {
    qosClass: "BestEffort",
    conditions: [
      { type: "PodScheduled", status: "True", lastTransitionTime: earlier },
      { type: "Ready", status: "False", lastTransitionTime: earlier },
      { type: "Initialized", status: "True", lastTransitionTime: earlier },
    ],
  },
} as unknown as V1Pod;
const facts: PodFacts = {
  phase: "Running",
  sandboxReady: true,
  initialized: true,
  containersReady: true,
  podIP: "10.97.3.5",
  hostIP: "10.97.3.1",
  startTime: new Date("2026-12-01T09:59:00Z"),
  initContainerStatuses: [],
  containerStatuses: [],
};
const now = new Date("2026-12-01T10:05:00.250Z");

describe("pod status", () => {
  it("keeps the scheduler's conditions and a condition's transition time while it holds", () => {
    const status = toApiJson(buildPodStatus(pod, facts, now)) as {
      conditions: { type: string; status: string; lastTransitionTime: string }[];
    };
    const byType = Object.fromEntries(status.conditions.map((c) => [c.type, c]));
    expect(byType.PodScheduled).toEqual({
      type: "PodScheduled",
      status: "True",
      lastTransitionTime: earlier,
    });
    expect(byType.Initialized?.lastTransitionTime).toBe(earlier);
    expect(byType.Ready).toMatchObject({ status: "True", lastTransitionTime: "2026-12-01T10:05:00Z" });
    expect(byType.ContainersReady?.status).toBe("True");
  });

  it("reports addresses, start time and QoS, and is never Ready once terminal", () => {
    const status = buildPodStatus(pod, { ...facts, phase: "Succeeded" }, now);
    expect(status).toMatchObject({
      phase: "Succeeded",
      podIP: "10.97.3.5",
      podIPs: [{ ip: "10.97.3.5" }],
      hostIP: "10.97.3.1",
      qosClass: "BestEffort",
    });
    expect(status.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "PodCompleted",
    });
    expect(toApiJson({ startTime: facts.startTime })).toEqual({ startTime: "2026-12-01T09:59:00Z" });
  });
});
