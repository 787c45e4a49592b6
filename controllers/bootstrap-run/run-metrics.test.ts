// jude_bootstrap_failed as the reconcile records it: 1 for a Failed run, back to 0 once a later run of
// the same pipeline and version Succeeded (the JudeBootstrapFailed alert then resolves), whichever of
// the two runs is reconciled.
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { fakeContext } from "../nearline-pipeline/fake-context.ts";
import { stored, testNamespace } from "../nearline-pipeline/test-objects.ts";
import { imagesFor } from "../shared/image.ts";
import { reconcileBootstrapRun } from "./reconcile.ts";
import { bootstrapFailedGauge } from "./run-metrics.ts";

/** A run of the example's pipeline ("jobs"), finished with `phase`, created at `created`. */
function run(name: string, phase: "Failed" | "Succeeded", created: string, pipeline = "jobs"): KubeObject {
  return stored("bootstrap-run.yaml", `${name}-uid`, (object) => {
    const metadata = object.metadata as Record<string, unknown>;
    metadata.name = name;
    metadata.creationTimestamp = created;
    (object.spec as { pipelineRef: { name: string } }).pipelineRef.name = pipeline;
    object.status = { phase, observedGeneration: 1 };
  }) as KubeObject;
}

/** Reconciles `name` among `runs`; returns jude_bootstrap_failed by run name. */
async function failedAfterReconcile(name: string, runs: KubeObject[]): Promise<Record<string, number>> {
  const gauge = bootstrapFailedGauge(new Registry());
  const { context } = fakeContext({ namespace: testNamespace, name }, { BootstrapRun: runs });
  await reconcileBootstrapRun(context, {
    images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
    failedGauge: gauge,
  });
  return Object.fromEntries((await gauge.get()).values.map(({ labels, value }) => [labels.name, value]));
}

const failed = run("jobs-minilm-v1", "Failed", "2026-12-01T10:00:00Z");
const retried = run("jobs-minilm-v1-retry", "Succeeded", "2026-12-01T11:00:00Z");

describe("jude_bootstrap_failed", () => {
  it("is 1 for a failed run with nothing after it", async () => {
    expect(await failedAfterReconcile("jobs-minilm-v1", [failed])).toEqual({ "jobs-minilm-v1": 1 });
  });

  it("is 0 for a failed run once a later run of its pipeline and version succeeded", async () => {
    expect(await failedAfterReconcile("jobs-minilm-v1", [failed, retried])).toMatchObject({
      "jobs-minilm-v1": 0,
    });
  });

  it("clears the failed run's series when the later run is the one reconciled", async () => {
    expect(await failedAfterReconcile("jobs-minilm-v1-retry", [failed, retried])).toEqual({
      "jobs-minilm-v1": 0,
      "jobs-minilm-v1-retry": 0,
    });
  });

  it("stays 1 when the success came before the failure, or was another pipeline's", async () => {
    const earlier = run("jobs-minilm-v1-first", "Succeeded", "2026-12-01T09:00:00Z");
    const otherPipeline = run("members-minilm-v1", "Succeeded", "2026-12-01T11:00:00Z", "members");
    expect(await failedAfterReconcile("jobs-minilm-v1", [failed, earlier, otherPipeline])).toMatchObject({
      "jobs-minilm-v1": 1,
    });
  });
});
