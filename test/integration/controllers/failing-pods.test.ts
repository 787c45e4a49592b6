// Pods the kubelet cannot run, on the testbed's local nodes (which really start the operator's pods
// and report container states as a kubelet does): here the workloads' image is in a private registry
// the nodes cannot pull from, which the local nodes report as ErrImageNotRunnableLocally, as a
// cluster's kubelet reports ErrImagePull/ImagePullBackOff. A Deployment says nothing of it until its
// progress deadline (10 minutes), a Job nothing at all: each resource's status must name the pod, its
// container and the kubelet's reason within seconds (Stalled, reason PodFailing).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapRunController } from "../../../controllers/bootstrap-run/controller.ts";
import { embeddingModelController } from "../../../controllers/embedding-model/controller.ts";
import { nearlinePipelineController } from "../../../controllers/nearline-pipeline/controller.ts";
import { imagesFor } from "../../../controllers/shared/image.ts";
import { localNodeTaint } from "../../testbed/local-nodes/local-node-registry.ts";
import { createTopics, produceEvents, uniqueTopic } from "../../support/kafka.ts";
import {
  cpuModel,
  createRestrictedNamespace,
  deleteNamespace,
  installCrds,
  testImages,
} from "../operator/operator-harness.ts";
import { kubectl, kubectlJson } from "../../support/kubectl.ts";
import { waitFor } from "../../testbed/wait.ts";
import { applyObjects, conditionOf, markModelObserved, startManager, waitForObject } from "./harness.ts";
import { bootstrapRun, model, pipeline, snapshotEvents, storeSecret } from "./objects.ts";

type Status = {
  status?: {
    phase?: string;
    conditions?: {
      type: string;
      status: string;
      reason: string;
      message: string;
      lastTransitionTime?: string;
    }[];
  };
};

const privateImages = imagesFor("registry.example.com/platform/jude", "0.1.0");
const localNode = `${process.env.JUDE_LOCAL_NODE_PREFIX ?? ""}local-cpu-0`;
const onLocalNode = {
  nodeSelector: { "kubernetes.io/hostname": localNode },
  tolerations: [
    { key: localNodeTaint.key, operator: "Exists", effect: "NoSchedule" },
    { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
  ],
};
const unpullable =
  /image "registry\.example\.com\/platform\/jude:0\.1\.0" cannot run on local node .*local-cpu-0/;

/** The names of the pods of `namespace`, oldest first. */
async function podNames(namespace: string): Promise<string[]> {
  const pods = await kubectlJson<{ items: { metadata: { name: string } }[] }>([
    "get",
    "pods",
    "-n",
    namespace,
    "--sort-by=.metadata.creationTimestamp",
  ]);
  return pods.items.map((pod) => pod.metadata.name);
}

/** When the Stalled condition last changed. */
const stalledSince = (object: Status) =>
  object.status?.conditions?.find((entry) => entry.type === "Stalled")?.lastTransitionTime;

/** The restarts of the serve container of the one serving pod of `namespace`. */
async function serveRestarts(namespace: string): Promise<number> {
  const pods = await kubectlJson<{
    items: { status?: { containerStatuses?: { name: string; restartCount: number }[] } }[];
  }>(["get", "pods", "-n", namespace]);
  const serve = pods.items[0]?.status?.containerStatuses?.find((entry) => entry.name === "serve");
  return serve?.restartCount ?? 0;
}

describe("pods the kubelet cannot run", () => {
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  const namespace = `failing-pods-${suffix}`;
  const servingNamespace = `failing-serving-${suffix}`;
  const stops: (() => Promise<void>)[] = [];
  let topic: string;

  beforeAll(async () => {
    await installCrds();
    await createRestrictedNamespace(namespace);
    await createRestrictedNamespace(servingNamespace);
    topic = uniqueTopic("jobs-changelog");
    await createTopics([topic], 2);
    const settings = { images: privateImages, placement: onLocalNode, concurrency: 2 };
    stops.push(
      startManager(namespace, "failing-pods-test", (manager) => {
        manager.add(nearlinePipelineController(settings));
        manager.add(bootstrapRunController(settings));
      }),
      startManager(servingNamespace, "failing-serving-test", (manager) => {
        manager.add(embeddingModelController(settings));
      }),
    );
  });

  afterAll(async () => {
    for (const stop of stops) await stop();
    await deleteNamespace(namespace);
    await deleteNamespace(servingNamespace);
  });

  it("an EmbeddingModel whose serving image cannot be pulled is Stalled PodFailing naming the pod and its init container", async () => {
    await applyObjects(servingNamespace, [cpuModel(servingNamespace, "unpulled", { replicas: 1 })]);
    const stalled = await waitForObject<Status>(
      servingNamespace,
      "embeddingmodel/unpulled",
      "Stalled PodFailing",
      (object) => conditionOf(object, "Stalled")?.reason === "PodFailing",
    );
    expect(conditionOf(stalled, "Stalled")?.status).toBe("True");
    expect(conditionOf(stalled, "ServingReady")?.message).toMatch(
      /^version v1: 0\/1 replicas ready; 1 pod cannot run \(unpulled-v1-[a-z0-9]+-[a-z0-9]+, init container model-manifest\): ErrImageNotRunnableLocally: /,
    );
    expect(conditionOf(stalled, "Stalled")?.message).toMatch(unpullable);
  });

  it("a NearlinePipeline and its BootstrapRun whose pods cannot pull their image are Stalled PodFailing", async () => {
    const ns = namespace;
    await applyObjects(ns, [storeSecret(), model()]);
    await markModelObserved(ns, "jude-minilm");
    await applyObjects(ns, [pipeline("jobs", topic)]);
    // The two workers' pods fail one after the other: wait until the condition names both.
    const pipelineStalled = await waitForObject<Status>(
      ns,
      "nearlinepipeline/jobs",
      "Stalled PodFailing with both workers' pods named",
      (object) =>
        conditionOf(object, "Stalled")?.reason === "PodFailing" &&
        /; 2 pods cannot run /.test(conditionOf(object, "Ready")?.message ?? ""),
    );
    expect(conditionOf(pipelineStalled, "Ready")?.message).toMatch(
      /^version minilm-v1: Deployment jobs-minilm-v1-nearline: 0 of 2 workers ready; 2 pods cannot run \(jobs-minilm-v1-nearline-[a-z0-9]+-[a-z0-9]+, container nearline\): ErrImageNotRunnableLocally: /,
    );
    expect(conditionOf(pipelineStalled, "Ready")?.message).toMatch(unpullable);

    await applyObjects(ns, [bootstrapRun("jobs-minilm-v1", "jobs", 1)]);
    const runStalled = await waitForObject<Status>(
      ns,
      "bootstraprun/jobs-minilm-v1",
      "Stalled PodFailing",
      (object) => conditionOf(object, "Stalled")?.reason === "PodFailing",
    );
    expect(runStalled.status?.phase).toMatch(/^(Pending|Running)$/);
    expect(conditionOf(runStalled, "Ready")?.message).toMatch(
      /; 1 pod cannot run \(jobs-minilm-v1-bootstrap-0-[a-z0-9]+, container bootstrap\): ErrImageNotRunnableLocally: /,
    );
    // Its phase does not change (the Job counts the pod active), so the Stalled turn is its own Event.
    await waitFor(
      "a Warning PodFailing Event on the BootstrapRun",
      async () => {
        const events = await kubectlJson<{
          items: { type: string; reason: string; involvedObject: { kind: string; name: string } }[];
        }>(["get", "events", "-n", ns]);
        return events.items.some(
          (event) =>
            event.involvedObject.kind === "BootstrapRun" &&
            event.type === "Warning" &&
            event.reason === "PodFailing",
        );
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    // The Job waits for ever; its deadline (set now, so the Job reaches it at once) fails it, and the
    // Job controller deletes the pod: the failure still names the pod and the kubelet's reason.
    await kubectl([
      "patch",
      "bootstraprun",
      "jobs-minilm-v1",
      "-n",
      ns,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { activeDeadlineSeconds: 1 } }),
    ]);
    const runFailed = await waitForObject<Status>(
      ns,
      "bootstraprun/jobs-minilm-v1",
      "Failed",
      (object) => object.status?.phase === "Failed",
    );
    expect(conditionOf(runFailed, "Failed")).toMatchObject({ status: "True", reason: "DeadlineExceeded" });
    expect(conditionOf(runFailed, "Failed")?.message).toMatch(
      /^bootstrap failed: Job was active longer than specified deadline; the shards were held back: 1 pod cannot run \(jobs-minilm-v1-bootstrap-0-[a-z0-9]+, container bootstrap\): ErrImageNotRunnableLocally: .*; progress /,
    );
  });

  it("a BootstrapRun whose shard is OOMKilled fails naming the pod, the container and OOMKilled", async () => {
    // The project's own image this time, so the shard really runs, over a memory limit far too small.
    const ns = `failing-oom-${suffix}`;
    await createRestrictedNamespace(ns);
    stops.push(
      startManager(ns, "failing-oom-test", (manager) => {
        manager.add(bootstrapRunController({ images: testImages, placement: onLocalNode, concurrency: 2 }));
      }),
      () => deleteNamespace(ns),
    );
    await applyObjects(ns, [storeSecret(), model()]);
    await markModelObserved(ns, "jude-minilm");
    const run = bootstrapRun("jobs-oom", "jobs", 1);
    Object.assign(run.spec as Record<string, unknown>, {
      backoffLimit: 0,
      resources: { requests: { cpu: "100m", memory: "16Mi" }, limits: { memory: "24Mi" } },
    });
    // Records to embed: with none (or only records the pipeline refuses: its decode rules want an
    // event time) the shard finishes within a second, which may be before the node measures its
    // memory; with valid ones it waits for its (absent) embedding server and is measured.
    const oomTopic = uniqueTopic("jobs-oom-changelog");
    await createTopics([oomTopic], 2);
    const updatedAt = new Date().toISOString();
    await produceEvents(
      oomTopic,
      snapshotEvents([5, 5]).map((event) => ({ ...event, value: { ...(event.value as object), updatedAt } })),
    );
    await applyObjects(ns, [pipeline("jobs", oomTopic), run]);
    const failed = await waitForObject<Status>(
      ns,
      "bootstraprun/jobs-oom",
      "Failed",
      (object) => object.status?.phase === "Failed",
    );
    expect(conditionOf(failed, "Stalled")?.message).toMatch(
      /^bootstrap failed: .*; last failed shard: pod jobs-oom-bootstrap-0-[a-z0-9]+, container bootstrap: OOMKilled, exit code 137( \(.*\))?; progress /,
    );
  });

  it("an EmbeddingModel whose image is corrected names its new pods, not the old ReplicaSet's that still cannot pull", async () => {
    // The new pods crash-loop (no model file at cpuModel's path) while the old one, on the image the
    // nodes cannot run, waits to be scaled down once a new pod is ready (never, here): the status must
    // speak of the pods of the corrected template. It named the old pod's image error ("2 pods").
    const ns = `failing-fixed-${suffix}`;
    await createRestrictedNamespace(ns);
    const start = (images: typeof testImages) =>
      startManager(ns, "failing-fixed-test", (manager) => {
        manager.add(embeddingModelController({ images, placement: onLocalNode, concurrency: 2 }));
      });
    let stop = start(privateImages);
    stops.push(
      () => stop(),
      () => deleteNamespace(ns),
    );
    await applyObjects(ns, [cpuModel(ns, "corrected", { replicas: 1 })]);
    await waitForObject<Status>(ns, "embeddingmodel/corrected", "Stalled PodFailing on the image", (object) =>
      /ErrImageNotRunnableLocally/.test(conditionOf(object, "Stalled")?.message ?? ""),
    );
    const [oldPod] = await podNames(ns);
    await stop();
    stop = start(testImages);
    const stalled = await waitForObject<Status>(
      ns,
      "embeddingmodel/corrected",
      "Stalled PodFailing on the new pod's crash loop",
      (object) => /CrashLoopBackOff/.test(conditionOf(object, "Stalled")?.message ?? ""),
    );
    expect(conditionOf(stalled, "ServingReady")?.message).toMatch(
      /^version v1: 0\/1 replicas ready; 1 pod cannot run \(corrected-v1-[a-z0-9]+-[a-z0-9]+, container serve\): CrashLoopBackOff: /,
    );
    expect(conditionOf(stalled, "ServingReady")?.message).not.toContain(oldPod);
    expect(await podNames(ns)).toContain(oldPod);
  });

  it("a NearlinePipeline whose placement is corrected names its new pods, not the old ReplicaSet's that cannot be scheduled", async () => {
    // The old workers asked for a node that does not exist and stay Pending (maxUnavailable 0) until a
    // new one is ready (never, here: the new template's image cannot run). The status named them
    // ("2 pods cannot be scheduled (...)") beside the new pod's real failure.
    const ns = `failing-placed-${suffix}`;
    await createRestrictedNamespace(ns);
    const start = (placement: typeof onLocalNode) =>
      startManager(ns, "failing-placed-test", (manager) => {
        manager.add(nearlinePipelineController({ images: privateImages, placement, concurrency: 2 }));
      });
    let stop = start({ ...onLocalNode, nodeSelector: { "kubernetes.io/hostname": "no-such-node" } });
    stops.push(
      () => stop(),
      () => deleteNamespace(ns),
    );
    await applyObjects(ns, [storeSecret(), model()]);
    await markModelObserved(ns, "jude-minilm");
    await applyObjects(ns, [pipeline("jobs", topic)]);
    await waitForObject<Status>(ns, "nearlinepipeline/jobs", "Unschedulable workers", (object) =>
      /2 pods cannot be scheduled/.test(conditionOf(object, "Ready")?.message ?? ""),
    );
    const oldPods = await podNames(ns);
    await stop();
    stop = start(onLocalNode);
    const stalled = await waitForObject<Status>(ns, "nearlinepipeline/jobs", "Stalled PodFailing", (object) =>
      /ErrImageNotRunnableLocally/.test(conditionOf(object, "Ready")?.message ?? ""),
    );
    const message = conditionOf(stalled, "Ready")?.message ?? "";
    expect(message).toMatch(
      /; 1 pod cannot run \(jobs-minilm-v1-nearline-[a-z0-9]+-[a-z0-9]+, container nearline\)/,
    );
    expect(message).not.toMatch(/be scheduled/);
    for (const old of oldPods) expect(message).not.toContain(old);
    expect(await podNames(ns)).toEqual(expect.arrayContaining(oldPods));
  });

  it("an EmbeddingModel whose model file does not exist is Stalled PodFailing with its server's crash loop and exit code", async () => {
    const ns = `failing-crash-${suffix}`;
    await createRestrictedNamespace(ns);
    stops.push(
      startManager(ns, "failing-crash-test", (manager) => {
        manager.add(embeddingModelController({ images: testImages, placement: onLocalNode, concurrency: 2 }));
      }),
      () => deleteNamespace(ns),
    );
    const missing = cpuModel(ns, "missing-file", { replicas: 1 });
    (missing.spec as { model: { uri: string } }).model.uri = "file:///nonexistent/jude/model.onnx";
    await applyObjects(ns, [missing]);
    const stalled = await waitForObject<Status>(
      ns,
      "embeddingmodel/missing-file",
      "Stalled PodFailing",
      (object) => conditionOf(object, "Stalled")?.reason === "PodFailing",
    );
    expect(conditionOf(stalled, "ServingReady")?.message).toMatch(
      /^version v1: 0\/1 replicas ready; 1 pod cannot run \(missing-file-v1-[a-z0-9]+-[a-z0-9]+, container serve\): CrashLoopBackOff: (back-off \d+s restarting failed container=serve .*|started again, not ready yet|ended again); last exit: Error, exit code 1/,
    );
    // The server's own words (its container's termination message is its last log lines): why it exited.
    expect(conditionOf(stalled, "ServingReady")?.message).toMatch(
      /; last exit: Error, exit code 1 \([^)]*\/nonexistent\/jude\/model\.onnx[^)]*\), \d+ restarts?$/,
    );

    // Each restart runs the container again for a moment (starting, then running): the crash loop goes
    // on, and the model stays Stalled through it instead of turning Reconciling at every restart.
    const since = stalledSince(stalled);
    const restarts = await serveRestarts(ns);
    await waitFor(
      `two more restarts than ${restarts}`,
      async () => (await serveRestarts(ns)) >= restarts + 2,
      {
        timeoutMs: 120_000,
        intervalMs: 2_000,
      },
    );
    const later = await waitForObject<Status>(ns, "embeddingmodel/missing-file", "read", () => true);
    expect(conditionOf(later, "Stalled")?.status).toBe("True");
    expect(stalledSince(later)).toBe(since);
  });
});
