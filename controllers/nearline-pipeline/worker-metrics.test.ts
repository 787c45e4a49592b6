// jude_nearline_workers_desired/_ready as the reconcile records them: the live version's workers asked
// for and ready (from its Deployment's status), 0 ready when none is, and no series once the pipeline
// is gone. The chart's JudeNearlineWorkersDown reads them when the workers' own series have vanished.
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { imagesFor } from "../shared/image.ts";
import { fakeContext } from "./fake-context.ts";
import { reconcileNearlinePipeline } from "./reconcile.ts";
import { stored, testNamespace } from "./test-objects.ts";
import { workerGauges } from "./worker-metrics.ts";

const key = { namespace: testNamespace, name: "jobs" };
const secret: KubeObject = {
  kind: "Secret",
  metadata: { name: "jude-redis", namespace: testNamespace },
  data: { url: Buffer.from("redis://redis:6379").toString("base64") },
};

/**
 * The live version's worker Deployment with `ready` of its 3 replicas ready, its rollout past its
 * progress deadline or not.
 */
function workers(ready: number, timedOut = false): KubeObject {
  return {
    kind: "Deployment",
    metadata: { name: "jobs-minilm-v1-nearline", namespace: testNamespace, generation: 1 },
    spec: { replicas: 3 },
    status: {
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: ready,
      conditions: timedOut
        ? [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }]
        : [],
    },
  } as KubeObject;
}

/** Reconciles the example pipeline in `objects`; returns "<metric> <version>" -> value. */
async function gaugesAfter(registry: Registry, objects: Record<string, KubeObject[]>) {
  const { context } = fakeContext(key, objects);
  await reconcileNearlinePipeline(context, {
    images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
    probe: async () => ({}),
    workerGauges: workerGauges(registry),
  });
  const values: Record<string, number> = {};
  for (const metric of [
    "jude_nearline_workers_desired",
    "jude_nearline_workers_ready",
    "jude_nearline_workers_not_progressing",
  ])
    for (const { labels, value } of (await registry.getSingleMetric(metric)!.get()).values) {
      expect(labels).toMatchObject({ namespace: testNamespace, pipeline: "jobs" });
      values[`${metric} ${labels.version}`] = value;
    }
  return values;
}

const world = (deployments: KubeObject[]) => ({
  NearlinePipeline: [stored("nearline-pipeline-jobs.yaml", "pipeline-uid") as KubeObject],
  EmbeddingModel: [stored("embedding-model.yaml", "model-uid") as KubeObject],
  Secret: [secret],
  Deployment: deployments,
});

describe("jude_nearline_workers_desired / _ready / _not_progressing", () => {
  it("report the live version's workers asked for and ready", async () => {
    expect(await gaugesAfter(new Registry(), world([workers(2)]))).toEqual({
      "jude_nearline_workers_desired minilm-v1": 3,
      "jude_nearline_workers_ready minilm-v1": 2,
      "jude_nearline_workers_not_progressing minilm-v1": 0,
    });
  });

  it("report the workers not ready within their Deployment's progress deadline", async () => {
    expect(await gaugesAfter(new Registry(), world([workers(2, true)]))).toEqual({
      "jude_nearline_workers_desired minilm-v1": 3,
      "jude_nearline_workers_ready minilm-v1": 2,
      "jude_nearline_workers_not_progressing minilm-v1": 1,
    });
  });

  it("report 0 ready when every worker is down, and drop the pipeline's series once it is deleted", async () => {
    const registry = new Registry();
    expect(await gaugesAfter(registry, world([workers(0)]))).toEqual({
      "jude_nearline_workers_desired minilm-v1": 3,
      "jude_nearline_workers_ready minilm-v1": 0,
      "jude_nearline_workers_not_progressing minilm-v1": 0,
    });
    expect(await gaugesAfter(registry, { ...world([workers(0)]), NearlinePipeline: [] })).toEqual({});
  });
});
