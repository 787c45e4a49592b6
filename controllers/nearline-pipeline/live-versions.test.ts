import { describe, expect, it } from "vitest";
import { parseBootstrapRun } from "../../crds/index.ts";
import { record } from "../embedding-model/promotion-fixtures.ts";
import { resolveLiveVersions } from "./live-versions.ts";
import { setPath, testModel } from "./test-objects.ts";

// A minute ago: after the fixtures' promotion start (two hours ago), so the run fills the current build.
const capturedTime = new Date(Date.now() - 60_000).toISOString();
const run = (version: string, watermarks: boolean) =>
  parseBootstrapRun({
    apiVersion: "jude.dev/v1alpha1",
    kind: "BootstrapRun",
    metadata: { name: `jobs-${version}`, namespace: "recs" },
    spec: { pipelineRef: { name: "jobs" }, modelVersion: version, source: { kafkaSnapshot: {} } },
    ...(watermarks
      ? {
          status: {
            watermarks: {
              capturedTime: capturedTime,
              topic: "jobs",
              partitions: [{ partition: 0, offset: 42 }],
            },
          },
        }
      : {}),
  });

describe("live versions of a pipeline", () => {
  const pinned = (version: string, fields = {}) => {
    const entry = record(version, fields);
    return { ...entry, spec: { ...entry.spec, model: { ...entry.spec.model, sha256: "c".repeat(64) } } };
  };

  it("without records: the spec's version, as before promotion", () => {
    const model = testModel();
    expect(resolveLiveVersions(model).versions.map((entry) => entry.version)).toEqual([model.spec.version]);
  });

  it("without a digest: stalls with a way forward the API server accepts (a new version name)", () => {
    // spec.model may change only together with spec.version (a CEL rule): "set spec.model.sha256"
    // alone is refused, so the message says to do it under a new version name.
    const model = testModel((object) => setPath(object, "spec.model.sha256", undefined));
    const [waiting] = resolveLiveVersions(model).waiting;
    expect(waiting).toMatchObject({ stallReason: "ModelDigestUnknown" });
    expect(waiting!.reason).toContain(
      "set spec.model.sha256 to the SHA-256 of the model file together with a new spec.version",
    );
  });

  it("without records and never observed (status at the CRD default): no version yet, waiting", () => {
    const model = { ...testModel(), status: { observedGeneration: 0 } };
    const resolved = resolveLiveVersions(model);
    expect(resolved.versions).toEqual([]);
    expect(resolved.waiting).toEqual([
      {
        version: model.spec.version,
        reason: `EmbeddingModel ${model.metadata.name} has not been reconciled yet: its versions' workers start once the operator has recorded them`,
      },
    ]);
    const observed = { ...model, status: { observedGeneration: 1 } };
    expect(resolveLiveVersions(observed).versions.map((entry) => entry.version)).toEqual([
      model.spec.version,
    ]);
  });

  it("without records while the model's reconcile fails (Stalled ReconcileError): no version yet, waiting", () => {
    const stalled = (reason: string) => ({
      type: "Stalled",
      status: "True" as const,
      reason,
      message: "reconciling has failed on every try since …: connect ECONNREFUSED",
      lastTransitionTime: "2026-12-04T08:00:00Z",
    });
    const model = testModel();
    const failing = { ...model, status: { observedGeneration: 1, conditions: [stalled("ReconcileError")] } };
    const resolved = resolveLiveVersions(failing);
    expect(resolved.versions).toEqual([]);
    expect(resolved.waiting[0]?.reason).toContain("cannot be reconciled yet (see its Stalled condition)");
    // Stalled for another reason (the controller decided something): as before.
    const decided = {
      ...model,
      status: { observedGeneration: 1, conditions: [stalled("VersionRedefined")] },
    };
    expect(resolveLiveVersions(decided).versions.map((entry) => entry.version)).toEqual([model.spec.version]);
  });

  it("without records while the model is Stalled on its store Secret: no version yet, waiting", () => {
    // The model reports a pipeline's missing store Secret before it records any version. Once the
    // Secret is created, the pipeline (which polls for it) may look before the model does: reading the
    // stale Stalled status as "decided" would start the spec version's workers ahead of the promotion,
    // before its serving and BootstrapRun exist (seen on the testbed following the README's advice).
    const model = testModel();
    for (const reason of ["SecretNotFound", "SecretKeyNotFound"]) {
      const blocked = {
        ...model,
        status: {
          observedGeneration: 1,
          conditions: [
            {
              type: "Stalled",
              status: "True" as const,
              reason,
              message:
                "Secret jude-redis (spec.sinks.store.urlSecretRef of NearlinePipeline jobs) does not exist: no version is deployed or switched to until it exists",
              lastTransitionTime: "2026-12-05T09:40:15Z",
            },
          ],
        },
      };
      const resolved = resolveLiveVersions(blocked);
      expect(resolved.versions, reason).toEqual([]);
      expect(resolved.waiting[0]?.reason).toContain("cannot be reconciled yet (see its Stalled condition)");
    }
  });

  it("with records: the versions whose record runs workers, each with its own prompts and digest", () => {
    const resolved = resolveLiveVersions(testModel(), [
      pinned("v1", { workers: true }),
      pinned("v0", { workers: false }),
    ]);
    expect(resolved.versions.map((entry) => [entry.version, entry.modelDigest])).toEqual([
      ["v1", `sha256:${"c".repeat(64)}`],
    ]);
  });

  it("carries each version's recorded vector settings, and none for a record that lacks one", () => {
    const v1 = pinned("v1", { workers: true });
    const v2 = pinned("v2", { workers: true });
    v2.spec = { ...v2.spec, model: { ...v2.spec.model, pooling: "cls" } };
    const partial = pinned("v3", { workers: true });
    const { precision: _dropped, ...withoutPrecision } = partial.spec.model;
    partial.spec = { ...partial.spec, model: withoutPrecision as typeof partial.spec.model };
    const resolved = resolveLiveVersions(testModel(), [v1, v2, partial]);
    expect(resolved.versions.map((entry) => [entry.version, entry.vectorSettings?.pooling])).toEqual([
      ["v1", v1.spec.model.pooling],
      ["v2", "cls"],
      ["v3", undefined],
    ]);
    expect(resolved.versions[0]!.vectorSettings).toEqual({
      pooling: v1.spec.model.pooling,
      normalize: v1.spec.model.normalize,
      maxSequenceLength: v1.spec.model.maxSequenceLength,
      precision: v1.spec.model.precision,
    });
  });

  it("starts a bootstrapped version's workers from its run's captured offsets, and waits for them", () => {
    const records = [pinned("v2", { workers: true, fromBootstrap: true })];
    const waiting = resolveLiveVersions(testModel(), records, [run("v2", false)]);
    expect(waiting.versions).toEqual([]);
    expect(waiting.waiting[0]?.reason).toContain("waiting for them");
    const started = resolveLiveVersions(testModel(), records, [run("v2", true)]);
    expect(started.versions[0]?.startOffsets).toEqual([{ partition: 0, offset: 42 }]);
  });

  // A second run of the version waits (AnotherRunInFlight, Pending, no offsets) while the first fills
  // it: the workers start from the offsets of the run that fills it, wherever the waiting one is listed.
  it("takes the offsets of the run filling the version, not of one waiting for it", () => {
    const records = [pinned("v2", { workers: true, fromBootstrap: true })];
    const waiting = { ...run("v2", false), metadata: { name: "jobs-v2-again", namespace: "recs" } };
    waiting.status = { phase: "Pending" };
    const filling = run("v2", true);
    filling.status = { ...filling.status, phase: "Running" };
    const resolved = resolveLiveVersions(testModel(), records, [waiting, filling]);
    expect(resolved.waiting).toEqual([]);
    expect(resolved.versions[0]?.startOffsets).toEqual([{ partition: 0, offset: 42 }]);
  });

  // A version promoted again after its vectors were collected (a rollback beyond retention) is a new
  // build: a Succeeded run left from its first build (a user's, which the promotion does not delete)
  // captured offsets of a snapshot the store no longer holds; the workers wait for the new run's.
  it("ignores the offsets of a run that filled an earlier build of the version", () => {
    const now = new Date().toISOString();
    const earlier = run("v2", true);
    earlier.status = { ...earlier.status, phase: "Succeeded" };
    const promotedAgain = [pinned("v2", { workers: true, fromBootstrap: true, promotionStartTime: now })];
    const resolved = resolveLiveVersions(testModel(), promotedAgain, [earlier]);
    expect(resolved.versions).toEqual([]);
    expect(resolved.waiting[0]?.reason).toContain("waiting for them");
    const rebuilt = [pinned("v2", { workers: true, fromBootstrap: true, buildStartTime: now })];
    expect(resolveLiveVersions(testModel(), rebuilt, [earlier]).versions).toEqual([]);
    const current = [pinned("v2", { workers: true, fromBootstrap: true })];
    expect(resolveLiveVersions(testModel(), current, [earlier]).versions[0]?.startOffsets).toEqual([
      { partition: 0, offset: 42 },
    ]);
  });

  // `kubectl get br` shows the earlier build's run Succeeded with offsets: the wait says why they are
  // not used, naming the run, so nobody waits for a run that will never count.
  it("says which run filled an earlier build while it waits for the current build's", () => {
    const now = new Date().toISOString();
    const earlier = run("v2", true);
    earlier.status = { ...earlier.status, phase: "Succeeded" };
    const promotedAgain = [pinned("v2", { workers: true, fromBootstrap: true, promotionStartTime: now })];
    const reason = resolveLiveVersions(testModel(), promotedAgain, [earlier]).waiting[0]?.reason;
    expect(reason).toContain("waiting for them");
    expect(reason).toContain(`BootstrapRun jobs-v2 filled an earlier build of version v2`);
    expect(reason).toContain(capturedTime);
    expect(reason).toContain(now);
    // The current build's run, not yet captured beside it: the same wait, the earlier run still named.
    const current = { ...run("v2", false), metadata: { name: "jobs-v2-again", namespace: "recs" } };
    const both = resolveLiveVersions(testModel(), promotedAgain, [earlier, current]);
    expect(both.versions).toEqual([]);
    expect(both.waiting[0]?.reason).toContain("BootstrapRun jobs-v2 filled an earlier build");
  });

  // Captured in the second its build started (both are whole seconds): the run fills the current build.
  it("counts a run captured in the very second its build started as the current build's", () => {
    const second = "2026-12-06T10:00:00Z";
    const same = run("v2", true);
    same.status = { ...same.status, watermarks: { ...same.status!.watermarks!, capturedTime: second } };
    const records = [pinned("v2", { workers: true, fromBootstrap: true, buildStartTime: second })];
    expect(resolveLiveVersions(testModel(), records, [same]).versions[0]?.startOffsets).toEqual([
      { partition: 0, offset: 42 },
    ]);
  });
});
