import { describe, expect, it } from "vitest";
import {
  describeDeadline,
  describeNotReadyPod,
  notProgressing,
  type DeploymentProgressView,
  type PodReadinessView,
} from "./progress-deadline.ts";

const now = Date.parse("2026-12-04T12:00:00Z");
const ago = (seconds: number) => new Date(now - seconds * 1000).toISOString();

function deployment(
  edit: { deadline?: number; timedOut?: boolean; observed?: number } = {},
): DeploymentProgressView {
  return {
    metadata: { name: "jobs-minilm-v1-nearline", generation: 2 },
    spec: edit.deadline !== undefined ? { progressDeadlineSeconds: edit.deadline } : {},
    status: {
      observedGeneration: edit.observed ?? 2,
      conditions: [
        {
          type: "Progressing",
          status: edit.timedOut === true ? "False" : "True",
          reason: edit.timedOut === true ? "ProgressDeadlineExceeded" : "NewReplicaSetAvailable",
        },
      ],
    },
  };
}

function pod(
  name: string,
  edit: { created: string; ready?: "True" | "False"; since?: string },
): PodReadinessView {
  return {
    metadata: { name, creationTimestamp: edit.created },
    status: {
      phase: "Running",
      ...(edit.ready !== undefined
        ? {
            conditions: [
              { type: "Ready", status: edit.ready, lastTransitionTime: edit.since ?? edit.created },
            ],
          }
        : {}),
    },
  };
}

describe("notProgressing", () => {
  it("is undefined for a Deployment not created yet, or whose pods are ready or not unready for long", () => {
    expect(notProgressing(undefined, [], now)).toBeUndefined();
    const pods = [
      pod("a", { created: ago(3600), ready: "True" }),
      pod("b", { created: ago(3600), ready: "False", since: ago(599) }),
      pod("c", { created: ago(30) }),
    ];
    expect(notProgressing(deployment(), pods, now)).toBeUndefined();
  });

  it("takes the Deployment controller's ProgressDeadlineExceeded for its current spec", () => {
    expect(notProgressing(deployment({ timedOut: true }), [], now)).toEqual({
      deployment: "jobs-minilm-v1-nearline",
      deadlineSeconds: 600,
      timedOut: true,
    });
    // A new spec the controller has not looked at yet starts a new rollout: the old verdict is stale.
    expect(notProgressing(deployment({ timedOut: true, observed: 1 }), [], now)).toBeUndefined();
  });

  it("names the pod unready longest past the deadline, which a rolled-out Deployment never times out", () => {
    const pods = [
      pod("since-ready", { created: ago(7200), ready: "False", since: ago(700) }),
      pod("never-scheduled", { created: ago(900) }),
      pod("deleting", { created: ago(9000) }),
      { ...pod("evicted", { created: ago(9000) }), status: { phase: "Failed" } },
    ];
    pods[2]!.metadata!.deletionTimestamp = ago(1);
    const progress = notProgressing(deployment(), pods, now);
    expect(progress).toEqual({
      deployment: "jobs-minilm-v1-nearline",
      deadlineSeconds: 600,
      timedOut: false,
      pod: { name: "never-scheduled", since: "2026-12-04T11:45:00Z" },
    });
    expect(describeDeadline(progress!)).toBe(
      "the progress deadline of Deployment jobs-minilm-v1-nearline (600 s)",
    );
    expect(describeNotReadyPod(progress!)).toBe("pod never-scheduled not ready since 2026-12-04T11:45:00Z");
  });

  it("reads the Deployment's own spec.progressDeadlineSeconds", () => {
    const pods = [pod("a", { created: ago(3600), ready: "False", since: ago(120) })];
    expect(notProgressing(deployment(), pods, now)).toBeUndefined();
    expect(notProgressing(deployment({ deadline: 60 }), pods, now)).toMatchObject({
      deadlineSeconds: 60,
      pod: { name: "a" },
    });
  });
});
