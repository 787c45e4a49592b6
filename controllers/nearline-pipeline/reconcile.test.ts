import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { imagesFor } from "../shared/image.ts";
import { fakeContext, summarizeCalls, type RecordedCall } from "./fake-context.ts";
import { reconcileNearlinePipeline } from "./reconcile.ts";
import { stored, testNamespace } from "./test-objects.ts";

const images = imagesFor("ghcr.io/jude-dev/jude", "0.1.0");
const key = { namespace: testNamespace, name: "jobs" };

const secret: KubeObject = {
  kind: "Secret",
  metadata: { name: "jude-redis", namespace: testNamespace },
  data: { url: Buffer.from("redis://redis:6379").toString("base64") },
};
const retired: KubeObject = {
  kind: "Deployment",
  metadata: {
    name: "jobs-minilm-v0-nearline",
    namespace: testNamespace,
    labels: {
      "app.kubernetes.io/name": "jude",
      "app.kubernetes.io/component": "nearline",
      "jude.dev/model": "jude-minilm",
      "jude.dev/pipeline": "jobs",
      "jude.dev/version": "minilm-v0",
    },
    ownerReferences: [
      {
        apiVersion: "jude.dev/v1alpha1",
        kind: "NearlinePipeline",
        name: "jobs",
        uid: "pipeline-uid",
        controller: true,
      },
    ],
  },
};

async function reconcile(objects: Record<string, KubeObject[]>): Promise<RecordedCall[]> {
  const { context, calls } = fakeContext(key, objects);
  await reconcileNearlinePipeline(context, { images, probe: async () => ({}) });
  return calls;
}

describe("reconcileNearlinePipeline", () => {
  it("applies the worker ConfigMap and Deployment of the live version, removes retired ones, and reports RollingOut", async () => {
    const calls = await reconcile({
      NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
      EmbeddingModel: [stored("embedding-model.yaml", "model-uid") as KubeObject],
      Secret: [secret],
      Deployment: [retired],
    });
    expect(summarizeCalls(calls)).toEqual([
      "apply ConfigMap/jobs-minilm-v1-nearline",
      "apply Deployment/jobs-minilm-v1-nearline",
      "delete Deployment/jobs-minilm-v0-nearline",
      "applyStatus NearlinePipeline/jobs",
    ]);
    const last = calls.at(-1);
    if (last?.verb !== "applyStatus") throw new Error("the reconcile must end with a status write");
    const conditions = last.status.conditions as { type: string; status: string; reason: string }[];
    expect(conditions.find((condition) => condition.type === "Reconciling")).toMatchObject({
      status: "True",
      reason: "RollingOut",
    });
  });

  it("writes only a Stalled status, and a Warning, when the model is missing", async () => {
    const calls = await reconcile({
      NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
      Secret: [secret],
      Deployment: [retired],
    });
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus NearlinePipeline/jobs",
      "event Warning ModelNotFound",
    ]);
  });

  it("does nothing for a pipeline that is gone", async () => {
    expect(await reconcile({})).toEqual([]);
  });
});
