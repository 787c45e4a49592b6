import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { buildPodStatus, statusDrifted, toApiJson, type PodFacts } from "./pod-status.ts";

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

describe("status another component changed", () => {
  // The node lifecycle controller marks every pod of a NotReady node Ready=False; once the node is
  // back, the kubelet writes its own view again instead of trusting what it last sent.
  it("is drift when the API's phase or a condition this agent owns differs from its own", () => {
    const ours = buildPodStatus(pod, facts, now);
    const marked = {
      ...pod,
      status: {
        ...ours,
        conditions: ours.conditions!.map((c) => (c.type === "Ready" ? { ...c, status: "False" } : c)),
      },
    } as V1Pod;
    expect(statusDrifted(marked, ours)).toBe(true);
    expect(statusDrifted({ ...pod, status: { ...ours, phase: "Pending" } } as V1Pod, ours)).toBe(true);
  });

  it("is no drift when they agree, whatever the other components' conditions say", () => {
    const ours = buildPodStatus(pod, facts, now);
    const same = {
      ...pod,
      status: {
        ...ours,
        conditions: [...ours.conditions!, { type: "DisruptionTarget", status: "True" }],
      },
    } as V1Pod;
    expect(statusDrifted(same, ours)).toBe(false);
  });
});

describe("status in a terminal phase", () => {
  it("is no drift: the API server would refuse to move the pod out of it", () => {
    const ours = buildPodStatus(pod, facts, now);
    expect(statusDrifted({ ...pod, status: { ...ours, phase: "Failed" } } as V1Pod, ours)).toBe(false);
  });
});
