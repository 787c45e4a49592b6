import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { fakeContext } from "../nearline-pipeline/fake-context.ts";
import { testModel, testNamespace } from "../nearline-pipeline/test-objects.ts";
import { childLabels } from "../shared/labels.ts";
import { servingName } from "../shared/names.ts";
import { versionServing } from "./promotion-observe.ts";

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
  it("does not blame the replaced ReplicaSet's unschedulable pod once a corrected template's pod is placed", () => {
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
    const serving = versionServing(context, model, version);
    expect(serving).toMatchObject({ state: "Reconciling", reason: "RollingOut" });
    expect(serving.message).not.toContain("be scheduled");
  });
});
