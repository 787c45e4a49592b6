import type { V1ContainerStatus } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { unreadyDeployment } from "./promotion-fixtures.ts";
import { unschedulablePods } from "../shared/unschedulable-pods.ts";
import { servingPodFailure, type ServingPodView } from "./serving-pods.ts";
import { servingState } from "./version-status.ts";

const fetchStep = (fields: Partial<V1ContainerStatus>, name = "fetch-model"): V1ContainerStatus => ({
  name,
  image: "jude",
  imageID: "",
  ready: false,
  restartCount: 0,
  ...fields,
});
const pod = (...initContainerStatuses: V1ContainerStatus[]): ServingPodView => ({
  metadata: { name: "minilm-v3-x" },
  status: { initContainerStatuses },
});
const exited = (exitCode: number, message?: string) => ({
  terminated: { exitCode, reason: exitCode === 0 ? "Completed" : "Error", ...(message ? { message } : {}) },
});

describe("certain failures of serving pods (decision table)", () => {
  it.each([
    ["fetch-model just exited with the mismatch code", pod(fetchStep({ state: exited(3) })), true],
    [
      "crash-looping after a mismatch (waiting, last state says why)",
      pod(
        fetchStep({
          restartCount: 2,
          state: { waiting: { reason: "CrashLoopBackOff" } },
          lastState: exited(3),
        }),
      ),
      true,
    ],
    [
      "running again after a mismatch: still certain until it succeeds (no flapping)",
      pod(fetchStep({ restartCount: 1, state: { running: {} }, lastState: exited(3) })),
      true,
    ],
    ["the manifest step mismatched", pod(fetchStep({ state: exited(3) }, "model-manifest")), true],
    [
      "succeeded after an earlier mismatch",
      pod(fetchStep({ state: exited(0), lastState: exited(3) })),
      false,
    ],
    ["a download failure (exit 1) may be transient", pod(fetchStep({ state: exited(1) })), false],
    ["still fetching", pod(fetchStep({ state: { running: {} } })), false],
    [
      "another init container exiting 3 is not a digest check",
      pod(fetchStep({ state: exited(3) }, "other")),
      false,
    ],
    ["no status yet", { metadata: { name: "p" } }, false],
  ] as const)("%s -> failure: %s", (_, view, failed) => {
    expect(servingPodFailure([view]) !== undefined).toBe(failed);
  });

  it("ignores pods being deleted", () => {
    const deleting = { ...pod(fetchStep({ state: exited(3) })), metadata: { deletionTimestamp: "now" } };
    expect(servingPodFailure([deleting])).toBeUndefined();
  });

  it("names the mismatch, the pod, the container and the termination message", () => {
    const failure = servingPodFailure([
      pod(fetchStep({ restartCount: 4, state: exited(3, "sha256 mismatch\n") })),
    ]);
    expect(failure).toEqual({
      reason: "ModelDigestMismatch",
      message:
        "the model file does not match spec.model.sha256 (pod minilm-v3-x, container fetch-model exited 3, DIGEST_MISMATCH, 4 restarts: sha256 mismatch); correct the digest or the file under a new version name",
    });
  });
});

describe("servingState with a pod failure", () => {
  const rollingOut = unreadyDeployment;
  const failure = { reason: "ModelDigestMismatch", message: "the model file does not match" } as const;

  it("stalls a version that is not ready at once, long before the Deployment's deadline", () => {
    expect(servingState(rollingOut, 0, failure)).toEqual({
      state: "Stalled",
      reason: "ModelDigestMismatch",
      message: "the model file does not match",
      readyReplicas: 0,
    });
  });

  it("leaves a ready version Ready (the failing pod is a leftover)", () => {
    const rolledOut = { ...rollingOut, readyReplicas: 1, availableReplicas: 1 };
    expect(servingState(rolledOut, 0, failure).state).toBe("Ready");
  });
});

describe("serving pods the scheduler cannot place", () => {
  const schedulerMessage =
    "0/7 nodes are available: 2 Insufficient nvidia.com/gpu, 5 node(s) didn't match Pod's node affinity/selector. preemption: 0/7 nodes are available: 2 No preemption victims found for incoming pod, 5 Preemption is not helpful for scheduling.";
  const pending = (name: string, reason = "Unschedulable"): ServingPodView => ({
    metadata: { name },
    status: {
      phase: "Pending",
      conditions: [{ type: "PodScheduled", status: "False", reason, message: schedulerMessage }],
    },
  });
  const scheduled: ServingPodView = {
    metadata: { name: "minilm-v1-ok" },
    status: { phase: "Running", conditions: [{ type: "PodScheduled", status: "True" }] },
  };

  it("counts the unschedulable pods and keeps the scheduler's reason of the first", () => {
    expect(unschedulablePods([scheduled, pending("minilm-v1-a"), pending("minilm-v1-b")])).toEqual({
      pods: 2,
      firstPod: "minilm-v1-a",
      message: schedulerMessage,
    });
  });

  it("ignores scheduled pods, pods being deleted and pods merely not yet tried (no reason)", () => {
    const deleting = { ...pending("minilm-v1-a"), metadata: { name: "x", deletionTimestamp: "now" } };
    const untried: ServingPodView = {
      metadata: { name: "y" },
      status: { phase: "Pending", conditions: [] },
    };
    expect(unschedulablePods([scheduled, deleting, untried])).toBeUndefined();
  });

  it("turns a rolling-out version's reason into Unschedulable with the scheduler's message", () => {
    const missingOne = {
      ...unreadyDeployment,
      replicas: 5,
      updatedReplicas: 5,
      readyReplicas: 4,
      availableReplicas: 4,
    };
    const unschedulable = unschedulablePods([pending("minilm-v1-a")]);
    expect(servingState(missingOne, 0, undefined, unschedulable)).toEqual({
      state: "Reconciling",
      reason: "Unschedulable",
      message: `4/5 replicas ready, 5/5 updated; 1 pod cannot be scheduled (minilm-v1-a): ${schedulerMessage}`,
      readyReplicas: 4,
    });
  });

  it("names the scheduler's reason when the Deployment's deadline has passed too", () => {
    const stuck = { ...unreadyDeployment, progressDeadlineExceeded: true };
    const state = servingState(stuck, 0, undefined, unschedulablePods([pending("minilm-v1-a")]));
    expect(state).toMatchObject({ state: "Stalled", reason: "ProgressDeadlineExceeded" });
    expect(state.message).toContain(`1 pod cannot be scheduled (minilm-v1-a): ${schedulerMessage}`);
  });

  it("leaves a Ready version Ready (a surge pod waiting for room is no outage)", () => {
    const rolledOut = { ...unreadyDeployment, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1 };
    const state = servingState(rolledOut, 0, undefined, unschedulablePods([pending("minilm-v1-a")]));
    expect(state.state).toBe("Ready");
  });

  it("a certain pod failure still wins over a waiting pod", () => {
    const failure = { reason: "ModelDigestMismatch", message: "the model file does not match" } as const;
    const state = servingState(unreadyDeployment, 0, failure, unschedulablePods([pending("a")]));
    expect(state).toMatchObject({ state: "Stalled", reason: "ModelDigestMismatch" });
  });
});

describe("serving pods the kubelet cannot run", () => {
  const failing = {
    pods: 1,
    firstPod: "jude-minilm-minilm-v2-abc",
    container: "init container fetch-model",
    reason: "ImagePullBackOff",
    message: 'Back-off pulling image "ghcr.io/jude-dev/jude:0.9.9"',
  };

  it("stalls a version that is not ready at once with the pod, container and kubelet's reason", () => {
    expect(servingState(unreadyDeployment, 0, undefined, undefined, failing)).toEqual({
      state: "Stalled",
      reason: "PodFailing",
      message:
        '0/1 replicas ready; 1 pod cannot run (jude-minilm-minilm-v2-abc, init container fetch-model): ImagePullBackOff: Back-off pulling image "ghcr.io/jude-dev/jude:0.9.9"',
      readyReplicas: 0,
    });
  });

  it("leaves a ready version Ready (a surge pod failing is shown by the Deployment)", () => {
    const rolledOut = { ...unreadyDeployment, readyReplicas: 1, availableReplicas: 1 };
    expect(servingState(rolledOut, 0, undefined, undefined, failing).state).toBe("Ready");
  });

  it("a digest mismatch still wins (it names what to fix)", () => {
    const mismatch = { reason: "ModelDigestMismatch", message: "the model file does not match" } as const;
    expect(servingState(unreadyDeployment, 0, mismatch, undefined, failing).reason).toBe(
      "ModelDigestMismatch",
    );
  });

  it("names the kubelet's reason past the progress deadline too", () => {
    const stuck = { ...unreadyDeployment, progressDeadlineExceeded: true };
    const state = servingState(stuck, 0, undefined, undefined, failing);
    expect(state).toMatchObject({ state: "Stalled", reason: "PodFailing" });
  });
});

describe("serving pods that run but are not ready (no failure)", () => {
  const detail =
    "container serve: running since 2026-12-01T10:01:02Z, not ready: its readiness probe has not passed (kubectl describe pod m-v2-b shows the probe's failures)";
  const unready = { notReady: { pod: "m-v2-b", detail } };

  it("rolls out (not Stalled) and names the pod and its probe", () => {
    expect(servingState(unreadyDeployment, 0, undefined, undefined, undefined, unready)).toEqual({
      state: "Reconciling",
      reason: "RollingOut",
      message: `0/1 replicas ready, 1/1 updated; pod m-v2-b, ${detail}`,
      readyReplicas: 0,
    });
  });

  it("names them past the progress deadline instead of only the pods' events", () => {
    const stuck = { ...unreadyDeployment, progressDeadlineExceeded: true };
    expect(servingState(stuck, 0, undefined, undefined, undefined, unready)).toMatchObject({
      state: "Stalled",
      reason: "ProgressDeadlineExceeded",
      message: `the serving pods did not become ready within the Deployment's progress deadline (0/1 replicas ready); pod m-v2-b, ${detail}`,
    });
  });
});
