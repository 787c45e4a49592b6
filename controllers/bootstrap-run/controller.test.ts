import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../operator/runtime/types.ts";
import { fakeContext, summarizeCalls } from "../nearline-pipeline/fake-context.ts";
import { imagesFor } from "../shared/image.ts";
import { bootstrapRunController } from "./controller.ts";

describe("bootstrapRunController's reportNotSynced", () => {
  const key = { namespace: "recs", name: "jobs-v1" };
  const run = (phase: string): KubeObject => ({
    apiVersion: "jude.dev/v1alpha1",
    kind: "BootstrapRun",
    metadata: { name: "jobs-v1", namespace: "recs", generation: 1 },
    status: {
      phase,
      observedGeneration: 1,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Succeeded",
          message: "done",
          lastTransitionTime: "2026-12-01T00:00:00Z",
        },
      ],
    },
  });
  const definition = bootstrapRunController({
    images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
    concurrency: 1,
  });
  const cause = "cannot list jobs.batch in namespace recs: 403 Forbidden";

  it("leaves a finished run as it is: it waits on no list, and no later reconcile would write its status again", async () => {
    for (const phase of ["Succeeded", "Failed"]) {
      const { context, calls } = fakeContext(key, { BootstrapRun: [run(phase)] });
      // Not held back: the runtime does not count it in jude_operator_reconcile_failing.
      expect(await definition.reportNotSynced!(context, cause)).toBe(false);
      expect(calls).toEqual([]);
    }
  });

  it("says it on a run still under way", async () => {
    const { context, calls } = fakeContext(key, { BootstrapRun: [run("Running")] });
    expect(await definition.reportNotSynced!(context, cause)).not.toBe(false);
    expect(summarizeCalls(calls)).toEqual([
      "applyStatus BootstrapRun/jobs-v1",
      "event Warning ReconcileError",
    ]);
  });
});

describe("bootstrapRunController's reportFailure", () => {
  const key = { namespace: "recs", name: "jobs-v1" };
  const run = (phase: string): KubeObject => ({
    apiVersion: "jude.dev/v1alpha1",
    kind: "BootstrapRun",
    metadata: { name: "jobs-v1", namespace: "recs", generation: 2 },
    status: { phase, observedGeneration: 1, conditions: [] },
  });
  const definition = bootstrapRunController({
    images: imagesFor("ghcr.io/jude-dev/jude", "0.1.0"),
    concurrency: 1,
  });
  const failure = (persistent: boolean) => ({
    error: new Error("etcdserver: request timed out"),
    sinceMs: 0,
    failures: persistent ? 3 : 1,
    persistent,
  });

  // Was: one failed write of a finished run's acknowledged status (a spec edit) turned it Ready False,
  // Reconciling True "retrying" at the new generation, and the retry found nothing to acknowledge, so
  // the Succeeded run said so for good (Argo CD: Progressing; `kubectl wait --for=condition=Ready` hung).
  it("leaves a finished run as it is: no later reconcile would write its conditions again", async () => {
    for (const phase of ["Succeeded", "Failed"])
      for (const persistent of [false, true]) {
        const { context, calls } = fakeContext(key, { BootstrapRun: [run(phase)] });
        await definition.reportFailure!(context, failure(persistent));
        expect(calls).toEqual([]);
      }
  });

  it("says it on a run still under way", async () => {
    const { context, calls } = fakeContext(key, { BootstrapRun: [run("Running")] });
    await definition.reportFailure!(context, failure(false));
    expect(summarizeCalls(calls)).toEqual(["applyStatus BootstrapRun/jobs-v1"]);
  });

  // Was: a run waiting for its changelog topic (Ready False, reason TopicNotFound, told once with a
  // Warning Event) had it replaced by a passing failure's ReconcileError, and the next reconcile told
  // TopicNotFound again as a new Warning Event.
  it("leaves a run waiting for its changelog topic as it is at a streak's first failure", async () => {
    const waiting: KubeObject = {
      ...run("Pending"),
      status: {
        phase: "Pending",
        observedGeneration: 2,
        conditions: [
          {
            type: "Ready",
            status: "False",
            reason: "TopicNotFound",
            message: "NearlinePipeline jobs: spec.source.kafka.topic names topic jobs.changelog, …",
            observedGeneration: 2,
            lastTransitionTime: "2026-12-01T00:00:00Z",
          },
        ],
      },
    };
    const { context, calls } = fakeContext(key, { BootstrapRun: [waiting] });
    await definition.reportFailure!(context, failure(false));
    expect(calls).toEqual([]);
    const persistent = fakeContext(key, { BootstrapRun: [waiting] });
    await definition.reportFailure!(persistent.context, failure(true));
    expect(summarizeCalls(persistent.calls)).toEqual([
      "applyStatus BootstrapRun/jobs-v1",
      "event Warning ReconcileError",
    ]);
  });
});
