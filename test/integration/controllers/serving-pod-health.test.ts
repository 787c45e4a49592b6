// A candidate version's serving pod that crashes once and runs on, and one that crash-loops, as the
// kubelet reports them: kwok's pretend pods take the status a test writes (a container running again
// after a failed exit, with its restart count and last state), and the Deployment controller counts
// the pod unready. One crash is restarted at once by a kubelet and is not a failure: the candidate
// stays Deploying, names the restart in its ServingReady message and sends no Warning Event. A crash
// loop (a restarted container that failed again, restarted after its back-off) turns it Failed at
// once, naming the exit; it returns to its phase once the pod is ready.
import type { V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddingModelController } from "../../../controllers/embedding-model/controller.ts";
import { reportProbeFailure, reportRestarted, runningPods } from "../../support/kubelet-reports.ts";
import { kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  testImages,
} from "../operator/operator-harness.ts";
import { applyObjects, conditionOf, startManager, waitForObject } from "./harness.ts";

/** The last exit message of a restarted container. */
const crashMessage = "cannot start the embedding server: crashtol test crash";

type Model = {
  status?: {
    activeVersion?: string;
    versions?: { version: string; phase: string }[];
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
};
type EventList = {
  items: { type: string; reason: string; message: string; involvedObject: { kind: string; name: string } }[];
};

const phaseOf = (model: Model, version: string) =>
  model.status?.versions?.find((entry) => entry.version === version)?.phase;

/** The one pod of `version` of model `name` that is not being deleted. */
async function servingPod(namespace: string, name: string, version: string): Promise<V1Pod> {
  const [pod] = await runningPods(namespace, `${name}-${version}-`);
  return pod!;
}

/** The model's Warning Events that say a version turned Failed. */
async function failedEvents(namespace: string, name: string) {
  const events = await kubectlJson<EventList>(["get", "events", "-n", namespace]);
  return events.items.filter(
    (event) =>
      event.involvedObject.kind === "EmbeddingModel" &&
      event.involvedObject.name === name &&
      event.type === "Warning" &&
      event.reason === "Failed",
  );
}

describe("a candidate's serving pod that crashes", () => {
  const namespace = `pod-health-${process.pid}-${Date.now().toString(36)}`;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    stop = startManager(namespace, "pod-health-test", (manager) => {
      manager.add(embeddingModelController({ images: testImages, concurrency: 2 }));
    });
  });

  afterAll(async () => {
    await stop?.();
    await deleteNamespace(namespace);
  });

  it("stays Deploying after one crash, turns Failed in a crash loop, and comes back once ready", async () => {
    const model = (version: string) => {
      const object = cpuModel(namespace, "health", { replicas: 1 });
      Object.assign(object.spec as Record<string, unknown>, {
        version,
        promotion: { cutover: "Manual", approvedVersion: "v1" },
      });
      return object;
    };
    await applyObjects(namespace, [model("v1")]);
    await waitForObject<Model>(
      namespace,
      "embeddingmodel/health",
      "v1 active",
      (object) => phaseOf(object, "v1") === "Active",
    );
    await applyObjects(namespace, [model("v2")]);
    await waitForObject<Model>(
      namespace,
      "embeddingmodel/health",
      "v2 awaiting its cutover",
      (object) => phaseOf(object, "v2") === "AwaitingCutover",
    );

    // Running, its readiness probe failing: the kubelet's words, and still no failure.
    const probing = await servingPod(namespace, "health", "v2");
    await reportRestarted(namespace, probing, 0, false, crashMessage);
    await reportProbeFailure(
      namespace,
      probing,
      "serve",
      "Readiness probe failed: crashtol probe says NOT_SERVING",
    );
    const unready = await waitForObject<Model>(
      namespace,
      "embeddingmodel/health",
      "v2's ServingReady naming the probe's failure",
      (object) => /Readiness probe failed/.test(conditionOf(object, "ServingReady")?.message ?? ""),
    );
    expect(phaseOf(unready, "v2")).toBe("Deploying");
    expect(conditionOf(unready, "ServingReady")?.message).toMatch(
      /^version v2: 0\/1 replicas ready, 1\/1 updated; pod health-v2-[a-z0-9]+-[a-z0-9]+, container serve: running since \S+Z, not ready: Readiness probe failed: crashtol probe says NOT_SERVING$/,
    );

    // One crash: the kubelet restarted the container at once and it is not ready yet.
    await reportRestarted(namespace, await servingPod(namespace, "health", "v2"), 1, false, crashMessage);
    const restarted = await waitForObject<Model>(
      namespace,
      "embeddingmodel/health",
      "v2's ServingReady naming the restart",
      (object) => /restarted after a failed exit/.test(conditionOf(object, "ServingReady")?.message ?? ""),
    );
    expect(phaseOf(restarted, "v2")).toBe("Deploying");
    expect(conditionOf(restarted, "ServingReady")).toMatchObject({ status: "False", reason: "RollingOut" });
    expect(conditionOf(restarted, "ServingReady")?.message).toMatch(
      /^version v2: 0\/1 replicas ready, 1\/1 updated; pod health-v2-[a-z0-9]+-[a-z0-9]+, container serve: running since \S+Z, restarted after a failed exit \(last exit: Error, exit code 1 \(cannot start the embedding server: crashtol test crash\), 1 restart\), not ready: /,
    );
    expect(conditionOf(restarted, "Stalled")?.status).not.toBe("True");
    expect(await failedEvents(namespace, "health")).toEqual([]);

    // It failed again and runs again after its back-off: a crash loop.
    await reportRestarted(namespace, await servingPod(namespace, "health", "v2"), 2, false, crashMessage);
    const looping = await waitForObject<Model>(
      namespace,
      "embeddingmodel/health",
      "v2 Failed",
      (object) => phaseOf(object, "v2") === "Failed",
    );
    expect(conditionOf(looping, "Stalled")).toMatchObject({ status: "True", reason: "PodFailing" });
    expect(conditionOf(looping, "ServingReady")?.message).toMatch(
      /: CrashLoopBackOff: started again, not ready yet; last exit: Error, exit code 1 \(cannot start the embedding server: crashtol test crash\), 2 restarts$/,
    );
    await waitFor(
      "one Warning Event saying v2 failed",
      async () => (await failedEvents(namespace, "health")).length === 1,
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    // Ready at last: back to its phase.
    await reportRestarted(namespace, await servingPod(namespace, "health", "v2"), 2, true, crashMessage);
    const recovered = await waitForObject<Model>(
      namespace,
      "embeddingmodel/health",
      "v2 ready",
      (object) => phaseOf(object, "v2") === "AwaitingCutover",
    );
    expect(conditionOf(recovered, "Stalled")?.status).not.toBe("True");
    expect(recovered.status?.activeVersion).toBe("v1");
    const events = await failedEvents(namespace, "health");
    expect(events).toHaveLength(1);
    expect(events[0]?.message).toMatch(/^version v2: Deploying -> Failed: /);
  });
});
