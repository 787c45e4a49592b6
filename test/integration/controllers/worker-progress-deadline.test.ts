// Nearline workers, and serving pods, that never become ready must not leave their NearlinePipeline or
// EmbeddingModel Reconciling for ever. Pods on kwok, whose pretend pods take the status a test writes; the testbed's kube-controller-
// manager runs the Deployment controller, which marks a rollout that has not progressed within the
// Deployment's spec.progressDeadlineSeconds Progressing=False, reason ProgressDeadlineExceeded. A
// rollout it once completed never times out though, however long a replacement pod stays unready: the
// operator counts that from the pod itself. The tests shorten the deadline (600 s by default) by
// patching the worker Deployment, a field the operator does not set and so leaves as patched.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTopics, uniqueTopic } from "../../support/kafka.ts";
import { reportRestarted, runningPods } from "../../support/kubelet-reports.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import {
  applyObjects,
  conditionOf,
  markModelObserved,
  startControllers,
  startManager,
  waitForObject,
  type ControllersHarness,
} from "./harness.ts";
import { model, pipeline, storeSecret } from "./objects.ts";
import { embeddingModelController } from "../../../controllers/embedding-model/controller.ts";
import { servingName } from "../../../controllers/shared/names.ts";
import {
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  testImages,
} from "../operator/operator-harness.ts";

type Status = {
  status?: {
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
};

/** The Ready condition's message. */
const ready = (object: Status) => conditionOf(object, "Ready")?.message ?? "";

/** Sets the progress deadline of Deployment `name`. */
async function setProgressDeadline(namespace: string, name: string, seconds: number): Promise<void> {
  await kubectl([
    "patch",
    "-n",
    namespace,
    `deployment/${name}`,
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { progressDeadlineSeconds: seconds } }),
  ]);
}

/** The value of `metric` for `labels` on the harness's registry, or undefined. */
async function gauge(
  harness: ControllersHarness,
  metric: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const found = await harness.registry.getSingleMetric(metric)?.get();
  return found?.values.find((value) =>
    Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted),
  )?.value;
}

describe("nearline workers that never become ready", () => {
  let harness: ControllersHarness;
  let topic: string;

  beforeAll(async () => {
    // A 5 s pipeline poll (--pipeline-poll-seconds; 30 s in production): a rolled-out worker's lapse
    // past the deadline changes no object the operator watches, so the poll is what sees it.
    harness = await startControllers("progress-deadline", { settings: { pipelinePollMs: 5_000 } });
    topic = uniqueTopic("progress-deadline-changelog");
    await createTopics([topic], 2);
    await applyObjects(harness.namespace, [storeSecret(), model()]);
    await markModelObserved(harness.namespace, "jude-minilm");
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it("a pipeline whose workers stay Pending turns Stalled, reason ProgressDeadlineExceeded, once the Deployment's deadline passed", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [
      pipeline("pending", topic, (spec) => {
        spec.workers!.replicas = 1;
        spec.workers!.resources = { requests: { cpu: "100000" } };
      }),
    ]);
    await waitForObject<Status>(ns, "nearlinepipeline/pending", "Unschedulable workers", (object) =>
      /1 pod cannot be scheduled/.test(ready(object)),
    );
    const deployment = "pending-minilm-v1-nearline";
    await setProgressDeadline(ns, deployment, 2);
    await waitFor(
      "the Deployment's ProgressDeadlineExceeded",
      async () => {
        const found = await kubectlJson<{ status?: { conditions?: { type: string; reason?: string }[] } }>([
          "get",
          "-n",
          ns,
          `deployment/${deployment}`,
        ]);
        return (found.status?.conditions ?? []).some(
          (condition) => condition.type === "Progressing" && condition.reason === "ProgressDeadlineExceeded",
        );
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const stalled = await waitForObject<Status>(
      ns,
      "nearlinepipeline/pending",
      "Stalled ProgressDeadlineExceeded",
      (object) => conditionOf(object, "Stalled")?.status === "True",
    );
    expect(conditionOf(stalled, "Stalled")?.reason).toBe("ProgressDeadlineExceeded");
    expect(conditionOf(stalled, "Ready")).toMatchObject({
      status: "False",
      reason: "ProgressDeadlineExceeded",
    });
    expect(ready(stalled)).toMatch(
      /^version minilm-v1: the workers did not become ready within the progress deadline of Deployment pending-minilm-v1-nearline \(2 s\): Deployment pending-minilm-v1-nearline: 0 of 1 workers ready; 1 pod cannot be scheduled \(pending-minilm-v1-nearline-[a-z0-9]+-[a-z0-9]+\): 0\/\d+ nodes are available: .*Insufficient cpu/,
    );
    expect(
      await gauge(harness, "jude_nearline_workers_not_progressing", {
        namespace: ns,
        pipeline: "pending",
        version: "minilm-v1",
      }),
    ).toBe(1);
    const events = await kubectlJson<{ items: { reason: string; type: string; message: string }[] }>([
      "get",
      "events",
      "-n",
      ns,
      "--field-selector=involvedObject.kind=NearlinePipeline,involvedObject.name=pending",
    ]);
    expect(events.items).toContainEqual(
      expect.objectContaining({ type: "Warning", reason: "ProgressDeadlineExceeded" }),
    );
  });

  it("a pipeline whose rolled-out worker turns unready and stays so turns Stalled past the deadline, which Kubernetes does not time out", async () => {
    const ns = harness.namespace;
    await applyObjects(ns, [pipeline("lapsed", topic, (spec) => void (spec.workers!.replicas = 1))]);
    await waitForObject<Status>(
      ns,
      "nearlinepipeline/lapsed",
      "pipeline Ready",
      (object) => conditionOf(object, "Ready")?.status === "True",
    );
    const deployment = "lapsed-minilm-v1-nearline";
    const [pod] = await runningPods(ns, `${deployment}-`);
    await setProgressDeadline(ns, deployment, 2);
    // Its readiness probe fails from now on; the Deployment keeps saying it had progressed.
    await reportRestarted(ns, pod!, 0, false, "unused");
    const stalled = await waitForObject<Status>(
      ns,
      "nearlinepipeline/lapsed",
      "Stalled ProgressDeadlineExceeded",
      (object) => conditionOf(object, "Stalled")?.status === "True",
    );
    expect(conditionOf(stalled, "Stalled")?.reason).toBe("ProgressDeadlineExceeded");
    const progressing = await kubectlJson<{ status?: { conditions?: { type: string; reason?: string }[] } }>([
      "get",
      "-n",
      ns,
      `deployment/${deployment}`,
    ]);
    expect(progressing.status?.conditions?.find((entry) => entry.type === "Progressing")?.reason).toBe(
      "NewReplicaSetAvailable",
    );
    expect(ready(stalled)).toMatch(
      new RegExp(
        `^version minilm-v1: the workers did not become ready within the progress deadline of Deployment ${deployment} \\(2 s\\): Deployment ${deployment}: 0 of 1 workers ready; pod ${pod!.metadata!.name!}, container nearline: running since \\S+Z, not ready: its readiness probe has not passed .*; pod ${pod!.metadata!.name!} not ready since \\S+Z`,
      ),
    );

    // Ready again: the pipeline is Ready again.
    await reportRestarted(ns, pod!, 0, true, "unused");
    await waitForObject<Status>(
      ns,
      "nearlinepipeline/lapsed",
      "pipeline Ready again",
      (object) => conditionOf(object, "Ready")?.status === "True",
    );
  });
});

describe("serving pods that never become ready", () => {
  const namespace = `progress-serving-${process.pid}-${Date.now().toString(36)}`;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    stop = startManager(namespace, "progress-serving-test", (manager) => {
      manager.add(embeddingModelController({ images: testImages, concurrency: 2 }));
    });
  });

  afterAll(async () => {
    await stop?.();
    await deleteNamespace(namespace);
  });

  it("an active version whose rolled-out serving pod turns unready and stays so turns Stalled past the deadline", async () => {
    type Model = Status & { status?: { versions?: { version: string; phase: string }[] } };
    const phase = (object: Model) => object.status?.versions?.find((entry) => entry.version === "v1")?.phase;
    await applyObjects(namespace, [cpuModel(namespace, "deadline", { replicas: 1 })]);
    await waitForObject<Model>(
      namespace,
      "embeddingmodel/deadline",
      "v1 active",
      (object) => phase(object) === "Active",
    );
    const deployment = servingName("deadline", "v1");
    const [pod] = await runningPods(namespace, `${deployment}-`);
    await setProgressDeadline(namespace, deployment, 2);
    await reportRestarted(namespace, pod!, 0, false, "unused");
    const stalled = await waitForObject<Model>(
      namespace,
      "embeddingmodel/deadline",
      "Stalled ProgressDeadlineExceeded",
      (object) => conditionOf(object, "Stalled")?.status === "True",
    );
    expect(conditionOf(stalled, "Stalled")?.reason).toBe("ProgressDeadlineExceeded");
    expect(ready(stalled)).toMatch(
      new RegExp(
        `^version v1: the serving pods did not become ready within the Deployment's progress deadline \\(0/1 replicas ready\\); pod ${pod!.metadata!.name!}, container serve: running since \\S+Z, not ready: .*; pod ${pod!.metadata!.name!} not ready since \\S+Z$`,
      ),
    );

    await reportRestarted(namespace, pod!, 0, true, "unused");
    await waitForObject<Model>(
      namespace,
      "embeddingmodel/deadline",
      "Ready again",
      (object) => conditionOf(object, "Ready")?.status === "True" && phase(object) === "Active",
    );
  });
});
