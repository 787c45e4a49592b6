import type { V1ContainerStatus } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { unreadyDeployment } from "./promotion-fixtures.ts";
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
