import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { fakeContext } from "../nearline-pipeline/fake-context.ts";
import { testModel, testNamespace } from "../nearline-pipeline/test-objects.ts";
import { childLabels } from "../shared/labels.ts";
import { servingName } from "../shared/names.ts";
import { observePromotion, versionServing } from "./promotion-observe.ts";
import { setPath } from "../nearline-pipeline/test-objects.ts";
import { desiredVersionRecord, recordedSpec, type VersionRecord } from "./version-record.ts";

const model = testModel();
const version = model.spec.version;
const name = servingName(model.metadata.name, version);
const labels = childLabels("serving", { model: model.metadata.name, embeddingVersion: version }).labels;

/** A serving pod of ReplicaSet `replicaSet` with the given status. */
const pod = (podName: string, replicaSet: string, status: Record<string, unknown>): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: podName,
    namespace: testNamespace,
    labels,
    ownerReferences: [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: replicaSet, uid: replicaSet, controller: true },
    ],
  },
  status,
});

describe("versionServing", () => {
  it("does not blame the replaced ReplicaSet's unschedulable pod once a corrected template's pod is placed", async () => {
    // The old template asked for a node that does not exist; the fix is rolling out: its pod is placed
    // and starting, the old pod waits (maxUnavailable 0) to be scaled down once the new one is ready.
    const deployment: KubeObject = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: testNamespace, generation: 2, labels },
      spec: { replicas: 1 },
      status: {
        observedGeneration: 2,
        replicas: 2,
        updatedReplicas: 1,
        readyReplicas: 0,
        availableReplicas: 0,
        conditions: [
          {
            type: "Progressing",
            status: "True",
            reason: "ReplicaSetUpdated",
            message: `ReplicaSet "${name}-new" is progressing.`,
          },
        ],
      },
    };
    const oldPod = pod(`${name}-old-abcde`, `${name}-old`, {
      phase: "Pending",
      conditions: [
        {
          type: "PodScheduled",
          status: "False",
          reason: "Unschedulable",
          message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
        },
      ],
    });
    const newPod = pod(`${name}-new-fghij`, `${name}-new`, {
      phase: "Running",
      conditions: [{ type: "PodScheduled", status: "True" }],
      containerStatuses: [
        {
          name: "serve",
          image: "ghcr.io/jude-dev/jude:0.1.0",
          imageID: "",
          ready: false,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: new Date() } },
        },
      ],
    });
    const { context } = fakeContext(
      { namespace: testNamespace, name: model.metadata.name },
      { Deployment: [deployment], Pod: [oldPod, newPod] },
    );
    const serving = await versionServing(context, model, version);
    expect(serving).toMatchObject({ state: "Reconciling", reason: "RollingOut" });
    expect(serving.message).not.toContain("be scheduled");
  });

  it("says so in a Ready version's message when its HPA cannot compute a replica count", async () => {
    // No metrics adapter serves the HPA's pods metrics: the version stays at its floor for ever, and its
    // HPA says so only on itself (ScalingActive False).
    const ready: KubeObject = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: testNamespace, generation: 1, labels },
      spec: { replicas: 2 },
      status: {
        observedGeneration: 1,
        replicas: 2,
        updatedReplicas: 2,
        readyReplicas: 2,
        availableReplicas: 2,
      },
    };
    const autoscaler: KubeObject = {
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: { name, namespace: testNamespace, labels },
      status: {
        conditions: [
          {
            type: "AbleToScale",
            status: "True",
            reason: "SucceededGetScale",
            message: "the HPA controller was able to get the target's current scale",
          },
          {
            type: "ScalingActive",
            status: "False",
            reason: "FailedGetPodsMetric",
            message:
              "the HPA was unable to compute the replica count: unable to get metric jude_serving_queue_tokens: unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered",
          },
        ],
      },
    };
    const serving = (objects: Record<string, KubeObject[]>) =>
      versionServing(
        fakeContext({ namespace: testNamespace, name: model.metadata.name }, objects).context,
        model,
        version,
      );
    expect(await serving({ Deployment: [ready], HorizontalPodAutoscaler: [autoscaler] })).toEqual({
      state: "Ready",
      reason: "ServingReady",
      message: `2/2 replicas ready; autoscaling inactive: HorizontalPodAutoscaler ${name} cannot compute a replica count (FailedGetPodsMetric): the HPA was unable to compute the replica count: unable to get metric jude_serving_queue_tokens: unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered`,
      readyReplicas: 2,
    });
    // Scaling works again, or the HPA turned it off on purpose (the Deployment scaled to zero): nothing to say.
    const scalingActive = (status: string, reason: string) => ({
      ...autoscaler,
      status: { conditions: [{ type: "ScalingActive", status, reason, message: "..." }] },
    });
    for (const hpa of [scalingActive("True", "ValidMetricFound"), scalingActive("False", "ScalingDisabled")])
      expect((await serving({ Deployment: [ready], HorizontalPodAutoscaler: [hpa] })).message).toBe(
        "2/2 replicas ready",
      );
  });

  it("names the readiness probe's failure from the kubelet's Events on a pod that runs and is not ready", async () => {
    const deployment: KubeObject = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: testNamespace, generation: 1, labels },
      spec: { replicas: 1 },
      status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 0 },
    };
    const unready = pod(`${name}-abc-fghij`, `${name}-abc`, {
      phase: "Running",
      containerStatuses: [
        {
          name: "serve",
          image: "ghcr.io/jude-dev/jude:0.1.0",
          imageID: "",
          ready: false,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: "2026-12-01T10:00:00Z" } },
        },
      ],
    });
    unready.metadata!.uid = "pod-uid";
    const event = (podUid: string, message: string): KubeObject =>
      ({
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: `e-${podUid}`, namespace: testNamespace },
        involvedObject: { kind: "Pod", uid: podUid },
        reason: "Unhealthy",
        message,
        lastTimestamp: "2026-12-01T10:01:00Z",
      }) as KubeObject;
    const { context } = fakeContext(
      { namespace: testNamespace, name: model.metadata.name },
      {
        Deployment: [deployment],
        Pod: [unready],
        Event: [
          event("pod-uid", 'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")'),
          event("other-pod", "Readiness probe failed: another pod's"),
        ],
      },
    );
    const serving = await versionServing(context, model, version);
    expect(serving).toMatchObject({ state: "Reconciling", reason: "RollingOut" });
    expect(serving.message).toMatch(/^0\/\d replicas ready, 1\/\d updated; /);
    expect(serving.message).toContain(
      `; pod ${name}-abc-fghij, container serve: running since 2026-12-01T10:00:00Z, not ready: Readiness probe failed: service unhealthy (responded with "NOT_SERVING")`,
    );
  });

  it("turns Stalled, reason ProgressDeadlineExceeded, when a pod of a rolled-out Deployment stays unready past its deadline", async () => {
    // The Deployment controller still says the rollout completed: it never times out after that.
    const deployment: KubeObject = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: testNamespace, generation: 1, labels },
      spec: { replicas: 2, progressDeadlineSeconds: 600 },
      status: {
        observedGeneration: 1,
        replicas: 2,
        updatedReplicas: 2,
        readyReplicas: 1,
        availableReplicas: 1,
        conditions: [
          {
            type: "Progressing",
            status: "True",
            reason: "NewReplicaSetAvailable",
            message: `ReplicaSet "${name}-abc" has successfully progressed.`,
          },
        ],
      },
    };
    const since = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString();
    const replacement = (unreadySeconds: number) => {
      const pending = pod(`${name}-abc-pending`, `${name}-abc`, {
        phase: "Pending",
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message: "0/3 nodes are available: 3 Insufficient cpu.",
          },
        ],
      });
      pending.metadata!.creationTimestamp = since(unreadySeconds) as unknown as Date;
      return pending;
    };
    const servingWith = async (unreadySeconds: number) => {
      const { context } = fakeContext(
        { namespace: testNamespace, name: model.metadata.name },
        { Deployment: [deployment], Pod: [replacement(unreadySeconds)] },
      );
      return versionServing(context, model, version);
    };
    expect(await servingWith(60)).toMatchObject({ state: "Reconciling", reason: "Unschedulable" });
    const stuck = await servingWith(900);
    expect(stuck).toMatchObject({ state: "Stalled", reason: "ProgressDeadlineExceeded" });
    expect(stuck.message).toMatch(
      new RegExp(
        `^the serving pods did not become ready within the Deployment's progress deadline \\(1/2 replicas ready\\); 1 pod cannot be scheduled \\(${name}-abc-pending\\): 0/3 nodes are available: 3 Insufficient cpu\\.; pod ${name}-abc-pending not ready since \\S+Z$`,
      ),
    );
  });
});

describe("observePromotion: a version's serving failure in its own spec's terms", () => {
  it("names the file a recorded version's pods read by that version's pvc:// URI, not the spec's model's", async () => {
    // v1 (readers' version) was built from pvc://jude-models/v1/model.onnx; the spec now names v2 with
    // another file. v1's pod cannot read its own file: its words name the mount path of v1's file.
    const v2 = testModel((object) => {
      setPath(object, "spec.version", "minilm-v2");
      setPath(object, "spec.model.uri", "pvc://jude-models/v2/model.onnx");
    });
    const v1 = "minilm-v1";
    const record = {
      version: v1,
      spec: { ...recordedSpec(v2), model: { ...v2.spec.model, uri: "pvc://jude-models/v1/model.onnx" } },
      promotionStartTime: "2026-01-01T00:00:00Z",
      activatedTime: "2026-01-01T01:00:00Z",
    } as VersionRecord;
    const v1Name = servingName(v2.metadata.name, v1);
    const v1Labels = childLabels("serving", { model: v2.metadata.name, embeddingVersion: v1 }).labels;
    const failing: KubeObject = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `${v1Name}-a-b`, namespace: testNamespace, labels: v1Labels },
      status: {
        phase: "Pending",
        initContainerStatuses: [
          {
            name: "fetch-model",
            image: "ghcr.io/jude-dev/jude:0.1.0",
            imageID: "",
            ready: false,
            restartCount: 2,
            state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 20s" } },
            lastState: {
              terminated: {
                exitCode: 1,
                reason: "Error",
                message: "cannot read /jude/pvc/jude-models/v1/model.onnx: ENOENT: no such file or directory",
              },
            },
          },
        ],
      },
    };
    const deployment: KubeObject = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: v1Name, namespace: testNamespace, generation: 1, labels: v1Labels },
      spec: { replicas: 1 },
      status: { observedGeneration: 1, replicas: 1, readyReplicas: 0, availableReplicas: 0 },
    };
    const { context } = fakeContext(
      { namespace: testNamespace, name: v2.metadata.name },
      {
        Deployment: [deployment],
        Pod: [failing],
        ConfigMap: [desiredVersionRecord(v2, record) as KubeObject],
      },
    );
    const inputs = await observePromotion(context, v2, [], undefined, []);
    expect(inputs.serving[v1]?.message).toContain("cannot read pvc://jude-models/v1/model.onnx");
    expect(inputs.serving[v1]?.message).not.toContain("/jude/pvc/");
  });
});
