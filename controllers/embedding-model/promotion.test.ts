import { describe, expect, it } from "vitest";
import {
  ago,
  now,
  passing,
  policy,
  promoting,
  ready,
  record,
  rolling,
  specOf,
  store,
  stuck,
  succeeded,
  unreadyDeployment,
} from "./promotion-fixtures.ts";
import {
  decidePromotion as decide,
  mayBootstrap,
  promotionPollMs,
  type PromotionDecision,
  type PromotionInputs,
  type StoreObservation,
} from "./promotion.ts";
import { versionPhase } from "../../crds/embedding-model-status.ts";
import { promptDigest, vectorSettingsOf } from "../../store/index.ts";
import { servingPodFailure } from "./serving-pods.ts";
import { promotionEvents, promotionStatus } from "./promotion-status.ts";
import { servingState } from "./version-status.ts";
import { exampleModel } from "./test-models.ts";
import { desiredVersionRecord, parseVersionRecord, type VersionRecord } from "./version-record.ts";

/** v2's only pod: fetch-model exited with the digest-mismatch code and waits to be retried. */
const digestMismatch = servingState(
  unreadyDeployment,
  0,
  servingPodFailure([
    {
      metadata: { name: "minilm-v2-abc" },
      status: {
        initContainerStatuses: [
          {
            name: "fetch-model",
            image: "jude",
            imageID: "",
            ready: false,
            restartCount: 1,
            state: { waiting: { reason: "CrashLoopBackOff" } },
            lastState: { terminated: { exitCode: 3, reason: "Error" } },
          },
        ],
      },
    },
  ]),
);

const condition = (decision: PromotionDecision, type: string) =>
  decision.conditions.find((entry) => entry.type === type);

/** `decision` switches the pointer from `expectedCurrent` to `target` above any epoch readers hold (now's ms). */
function expectSwitchAboveNow(decision: PromotionDecision, expectedCurrent: string, target: string): void {
  expect(decision.switchPointer).toMatchObject({ expectedCurrent, target, minEpoch: now.getTime() });
}

/**
 * Every decision below, checked against mayBootstrap: the reconcile reads what a run's creation needs
 * only when it says a run may be asked for, so it must never say no to a decision that asks for one.
 */
function decidePromotion(input: PromotionInputs): PromotionDecision {
  const decision = decide(input);
  if (decision.bootstrap !== undefined) expect(mayBootstrap(input)).toBe(true);
  return decision;
}

describe("mayBootstrap", () => {
  it("says no run is asked for without a store, for the version readers use, or for a rollback", () => {
    expect(mayBootstrap(promoting({ serving: { v1: ready, v2: ready } }))).toBe(true);
    expect(decide(promoting({ candidate: {} })).bootstrap).toBe("v2");
    expect(mayBootstrap(promoting({ store: undefined }))).toBe(false);
    const settled = promoting({
      specVersion: "v1",
      spec: specOf("v1"),
      store: store("v1", { v1: "complete" }),
      records: [record("v1", { activatedTime: ago(7000), workers: true })],
    });
    expect(mayBootstrap(settled)).toBe(false);
    expect(decide(settled).bootstrap).toBeUndefined();
    const rollback = promoting({
      specVersion: "v1",
      spec: specOf("v1"),
      store: store("v2", { v1: "complete", v2: "complete" }, { backup: "v1" }),
      statusActive: "v2",
      records: [
        record("v1", { activatedTime: ago(7000), deactivatedTime: ago(60), workers: true }),
        record("v2", { promotionStartTime: ago(600), activatedTime: ago(60), workers: true }),
      ],
    });
    expect(mayBootstrap(rollback)).toBe(false);
    expect(decide(rollback).bootstrap).toBeUndefined();
  });
});

describe("promoting v2 while v1 serves: one row per step (decision table)", () => {
  it.each([
    [
      "serving starting",
      { serving: { v1: ready, v2: rolling }, candidate: { bootstrap: undefined } },
      "Deploying",
      "ServingReady",
      undefined,
    ],
    [
      "no BootstrapRun yet",
      { candidate: { bootstrap: undefined } },
      "Bootstrapping",
      "BootstrapComplete",
      "v2",
    ],
    [
      "bootstrap running",
      { candidate: { bootstrap: { ...succeeded, phase: "Running" as const, percent: 40 } } },
      "Bootstrapping",
      "BootstrapComplete",
      "v2",
    ],
    [
      "run succeeded but the store still marks v2 building",
      { store: store("v1", { v1: "complete", v2: "building" }) },
      "Bootstrapping",
      "BootstrapComplete",
      "v2",
    ],
    [
      "workers not reporting",
      { candidate: { ...passing, lag: { pipelines: 2, reporting: 1, records: 0 } } },
      "CatchingUp",
      "CaughtUp",
      "v2",
    ],
    [
      "workers behind",
      { candidate: { ...passing, lag: { pipelines: 1, reporting: 1, records: 900, freshnessSeconds: 75 } } },
      "CatchingUp",
      "CaughtUp",
      "v2",
    ],
    [
      "coverage below the gate",
      { candidate: { ...passing, coverage: { candidateLive: 950, baseLive: 1000 } } },
      "CatchingUp",
      "CoverageMet",
      "v2",
    ],
    [
      "parity not sampled yet",
      { candidate: { ...passing, parity: undefined } },
      "CatchingUp",
      "ParityPassed",
      "v2",
    ],
  ] as const)("%s -> phase %s, waiting on %s; readers stay on v1", (_, overrides, phase, gate, bootstrap) => {
    const decision = decidePromotion(promoting(overrides));
    expect(decision.phases).toMatchObject({ v1: "Active", v2: phase });
    expect(decision.switchPointer).toBeUndefined();
    expect(decision.queryVersion).toBe("v1");
    expect(decision.activeVersion).toBe("v1");
    expect(decision.serve.sort()).toEqual(["v1", "v2"]);
    expect(decision.bootstrap).toBe(bootstrap);
    expect(condition(decision, gate)).toMatchObject({ status: "False" });
    expect(decision.verdict).toMatchObject({ state: "Reconciling" });
    expect(decision.stalled).toBe(false);
    // Workers of v2 start once the bootstrap is requested (each pipeline waits for its run's offsets).
    expect(decision.workers.includes("v2")).toBe(bootstrap === "v2");
  });

  it("names a Stalled pipeline (its candidate's workers cannot run) in CaughtUp while the bootstrap runs", () => {
    const stalled =
      "NearlinePipeline jobs is Stalled (PodFailing): version v2: Deployment jobs-v2-nearline: 0 of 3 workers ready; 1 pod cannot run (jobs-v2-nearline-a-b, container nearline): CrashLoopBackOff: back-off 40s";
    const decision = decidePromotion(
      promoting({
        candidate: {
          bootstrap: { ...succeeded, phase: "Running", percent: 40 },
          lag: { pipelines: 1, reporting: 0, stalled: [stalled] },
        },
      }),
    );
    expect(decision.phases).toMatchObject({ v2: "Bootstrapping" });
    expect(condition(decision, "CaughtUp")).toMatchObject({
      status: "False",
      reason: "Waiting",
      message: `waiting for BootstrapComplete; meanwhile ${stalled}`,
    });
  });

  it("keeps v2's workers while its serving rolls after the bootstrap started (an operator upgrade rolls every version)", () => {
    // A new operator image tag rolls every serving Deployment; v2's rollout shuts ServingReady for a
    // while. Its BootstrapRun keeps running, and so must its workers: deleting their Deployment stops
    // every worker at once and restarts them all when the rollout ends.
    const decision = decidePromotion(
      promoting({
        serving: { v1: ready, v2: rolling },
        candidate: { bootstrap: { ...succeeded, phase: "Running", percent: 40 } },
      }),
    );
    expect(decision.phases).toMatchObject({ v1: "Active", v2: "Deploying" });
    expect(decision.bootstrap).toBeUndefined();
    expect(decision.workers.sort()).toEqual(["v1", "v2"]);
    expect(decision.records.find((entry) => entry.version === "v2")?.workers).toBe(true);
  });

  it("carries each gate's measured value in its message", () => {
    const decision = decidePromotion(
      promoting({ candidate: { ...passing, coverage: { candidateLive: 950, baseLive: 1000 } } }),
    );
    expect(condition(decision, "CaughtUp")?.message).toContain(
      "lag 0 records, freshness p95 0.4s (gate 30s)",
    );
    expect(condition(decision, "CoverageMet")?.message).toContain(
      "950/1000 records of the active version = 0.9500 (gate 0.99)",
    );
    expect(decision.gates.find((gate) => gate.type === "CoverageMet")?.value).toBe(0.95);
  });

  it("flips v1 -> v2 and moves the query Service in the same decision when every gate passes", () => {
    const decision = decidePromotion(promoting());
    expect(decision.switchPointer).toEqual({ kind: "flip", expectedCurrent: "v1", target: "v2" });
    expect(decision).toMatchObject({ queryVersion: "v2", activeVersion: "v2", verdict: { state: "Ready" } });
    expect(decision.phases).toEqual({ v2: "Active", v1: "Draining" });
    const v2 = decision.records.find((entry) => entry.version === "v2");
    const v1 = decision.records.find((entry) => entry.version === "v1");
    expect(v2).toMatchObject({ activatedTime: "2026-12-02T12:00:00Z", workers: true });
    expect(v1).toMatchObject({ deactivatedTime: "2026-12-02T12:00:00Z", workers: true });
    expect(condition(decision, "Promoted")).toMatchObject({ status: "True" });
    expect(condition(decision, "ParityPassed")).toMatchObject({ status: "True" });
  });

  it("promotes the first version with data: flip from no pointer, coverage has nothing to compare", () => {
    const decision = decidePromotion(
      promoting({
        store: store(null, { v2: "complete" }),
        statusActive: undefined,
        records: [record("v2", { promotionStartTime: ago(60) })],
        serving: { v2: ready },
        candidate: { ...passing, coverage: { candidateLive: 1000 } },
      }),
    );
    expect(decision.switchPointer).toEqual({ kind: "flip", expectedCurrent: null, target: "v2" });
    expect(condition(decision, "CoverageMet")?.message).toContain("no active version to compare with");
  });

  // README (NothingToSample): an empty changelog topic keeps a first version at parity; past the
  // deadline that is Stalled (PromotionDeadlineExceeded), and the first event's vector still flips it.
  it("holds a first version with nothing to sample at parity: Stalled past the deadline, flipped once a vector is sampled", () => {
    const input = (parity: { sampled: number; matched: number; minCosine?: number }, startedAgo: number) =>
      promoting({
        store: store(null, { v2: "complete" }),
        statusActive: undefined,
        records: [record("v2", { promotionStartTime: ago(startedAgo) })],
        serving: { v2: ready },
        candidate: { ...passing, coverage: { candidateLive: 0 }, parity },
      });
    const early = decidePromotion(input({ sampled: 0, matched: 0 }, 60));
    expect(early.verdict).toMatchObject({ state: "Reconciling", reason: "NothingToSample" });
    expect(early.switchPointer).toBeUndefined();
    const overdue = decidePromotion(input({ sampled: 0, matched: 0 }, 3601));
    expect(overdue.verdict).toMatchObject({ state: "Stalled", reason: "PromotionDeadlineExceeded" });
    expect(overdue.verdict.message).toContain(
      "ParityPassed: version v2 has no vectors with a changelog position",
    );
    expect(overdue.phases.v2).toBe("Failed");
    const sampled = decidePromotion(input({ sampled: 1, matched: 1, minCosine: 1 }, 3601));
    expect(sampled.switchPointer).toEqual({ kind: "flip", expectedCurrent: null, target: "v2" });
  });
});

describe("Stalled while v1 keeps serving (decision table)", () => {
  it.each([
    ["v2's pods never become ready", { serving: { v1: ready, v2: stuck } }, "ProgressDeadlineExceeded"],
    [
      "v2's model file fails its digest check, a minute into the promotion (no deadline involved)",
      { serving: { v1: ready, v2: digestMismatch } },
      "ModelDigestMismatch",
    ],
    [
      "the bootstrap failed",
      { candidate: { bootstrap: { ...succeeded, phase: "Failed" as const, message: "backoff limit" } } },
      "BootstrapFailed",
    ],
    [
      "re-embedded vectors differ (wrong model, prompt or precision)",
      {
        candidate: {
          ...passing,
          parity: { sampled: 16, matched: 3, minCosine: 0.91, firstMismatch: "job:7 cosine 0.91" },
        },
      },
      "ParityFailed",
    ],
    [
      "a gate stayed shut past the deadline",
      {
        records: [
          record("v1", { activatedTime: ago(7000) }),
          record("v2", { promotionStartTime: ago(3601) }),
        ],
        candidate: { ...passing, coverage: { candidateLive: 10, baseLive: 1000 } },
      },
      "PromotionDeadlineExceeded",
    ],
  ] as const)("%s -> Stalled (%s)", (_, overrides, reason) => {
    const decision = decidePromotion(promoting(overrides));
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason });
    if (reason === "ModelDigestMismatch")
      expect(decision.verdict.message).toContain("ServingReady: version v2: the model file does not match");
    expect(decision.verdict.message).toContain("version v1 keeps serving");
    expect(decision).toMatchObject({ stalled: true, queryVersion: "v1", activeVersion: "v1" });
    expect(decision.switchPointer).toBeUndefined();
    expect(decision.phases).toMatchObject({ v1: "Active", v2: "Failed" });
  });

  // Workers and shards check every vector's model digest against spec.model.sha256 and the operator
  // does not hash model files, so without it no bootstrap or worker of v2 can ever run: Stalled at
  // once, not Reconciling until the progress deadline (an hour by default) while its pipelines stall.
  it("stalls at once, with no run, when v2 sets no model sha256 and pipelines need one", () => {
    const { sha256: _, ...model } = specOf("v2").model;
    const noDigest = { ...specOf("v2"), model };
    const input = promoting({
      spec: noDigest,
      records: [
        record("v1", { activatedTime: ago(7000), workers: true }),
        record("v2", { promotionStartTime: ago(60), spec: noDigest }),
      ],
      candidate: { bootstrap: undefined },
    });
    const decision = decidePromotion(input);
    // No run can ever be asked for it, so the pipelines' Kafka Secrets are not read for one either.
    expect(mayBootstrap(input)).toBe(false);
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "ModelDigestUnknown" });
    expect(decision.verdict.message).toMatch(
      /^BootstrapComplete: version v2 sets no spec\.model\.sha256: .* set it together with a new spec\.version; version v1 keeps serving$/,
    );
    expect(decision).toMatchObject({ stalled: true, queryVersion: "v1", bootstrap: undefined });
    expect(decision.workers).toEqual(["v1"]);
    expect(decision.phases).toMatchObject({ v1: "Active", v2: "Failed" });
    // Without pipelines there is nothing to check vectors against: served as any model without data.
    const servedOnly = decidePromotion(
      promoting({
        spec: noDigest,
        store: undefined,
        records: [record("v2", { spec: noDigest })],
        statusActive: undefined,
      }),
    );
    expect(servedOnly.verdict.state).not.toBe("Stalled");
  });

  it("names the shut gate and its value when the deadline passed", () => {
    const decision = decidePromotion(
      promoting({
        records: [
          record("v1", { activatedTime: ago(7000) }),
          record("v2", { promotionStartTime: ago(3601) }),
        ],
        candidate: { ...passing, coverage: { candidateLive: 10, baseLive: 1000 } },
      }),
    );
    expect(decision.verdict.message).toContain("not promoted after 3600s: CoverageMet: version v2: 10/1000");
  });

  // The record of the active version as an operator written before `model.precision` existed left it:
  // the upgraded CRD defaults it on the live model, the record does not say it. Same model all the same.
  it("keeps an active version whose record an older release wrote without a field this release defaults", () => {
    const older = record("v1", { activatedTime: ago(7000), workers: true });
    const { precision: _precision, ...olderModel } = older.spec.model;
    const configMap = desiredVersionRecord(exampleModel(), {
      ...older,
      spec: { ...older.spec, model: olderModel as typeof older.spec.model },
    });
    const decision = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store("v1", { v1: "complete" }),
        records: [parseVersionRecord(configMap)!],
        serving: { v1: ready },
        writersPresent: ["v1"],
      }),
    );
    expect(decision.verdict).toMatchObject({ state: "Ready" });
    expect(decision.stalled).not.toBe(true);
  });

  // After an image rollback with a newer release's CRDs kept: that release recorded the active version
  // with a model field this one does not know, and the live model, read from the API server, has the
  // same field dropped (crds/resource.ts fromApiServer). Both sides must be compared alike: same model.
  it("keeps an active version whose record a newer release wrote with a field this release does not know", () => {
    const newer = record("v1", { activatedTime: ago(7000), workers: true });
    const configMap = desiredVersionRecord(exampleModel(), {
      ...newer,
      spec: {
        ...newer.spec,
        model: { ...newer.spec.model, newerField: "x" } as typeof newer.spec.model,
        serving: { ...newer.spec.serving, newerServingField: 1 } as typeof newer.spec.serving,
      },
    });
    const read = parseVersionRecord(configMap)!;
    const decision = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store("v1", { v1: "complete" }),
        records: [read],
        serving: { v1: ready },
        writersPresent: ["v1"],
      }),
    );
    expect(decision.verdict).toMatchObject({ state: "Ready" });
    expect(decision.stalled).not.toBe(true);
    // The record keeps what the newer release wrote, for its return (written back as read).
    const kept = decision.records.find((entry) => entry.version === "v1")!;
    const written = JSON.parse(desiredVersionRecord(exampleModel(), kept).data!["spec.json"]!);
    expect(written.model.newerField).toBe("x");
    expect(written.serving.newerServingField).toBe(1);
  });

  it("refuses a version name reused for another model", () => {
    const decision = decidePromotion(promoting({ spec: specOf("v9") }));
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "VersionRedefined" });
    expect(decision.switchPointer).toBeUndefined();
    expect(decision.queryVersion).toBe("v1");
  });

  // A Git revert of spec.version alone (v2 failed to load): the active v1 under v2's model. The API
  // server refuses setting the model back without a version change, so the message says what works.
  it("tells how to return to the active version when spec.version alone was set back to it", () => {
    const decision = decidePromotion(promoting({ specVersion: "v1", spec: specOf("v9") }));
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "VersionRedefined" });
    expect(decision.queryVersion).toBe("v1");
    expect(decision.verdict.message).toBe(
      "version v1, the active one, was built with another model or prompts than the spec names (spec.version set back without spec.model and spec.prompts?); " +
        "the API server refuses a model or prompts change without a version change, so to return to v1 as it was built, set spec.version to the new model's version name again, " +
        "then `kubectl jude rollback` with this EmbeddingModel's name abandons that promotion, setting spec.version, spec.model and spec.prompts back to v1's record together (version v1 keeps serving)",
    );
  });

  // The same state: v1 is Active and serving readers as built; only the spec's model is not promoted.
  it("says the active version serves, not that it failed, in Promoted when spec.version alone was set back to it", () => {
    const decision = decidePromotion(promoting({ specVersion: "v1", spec: specOf("v9") }));
    expect(decision.phases.v1).toBe("Active");
    const promoted = decision.conditions.find((condition) => condition.type === "Promoted");
    expect(promoted).toMatchObject({ status: "False", reason: "VersionRedefined" });
    expect(promoted?.message).toMatch(
      /^version v1 is Active and serving as built \(with its recorded model and prompts\); the model or prompts the spec names are not promoted: version v1, the active one, was built with another model/,
    );
    expect(promoted?.message).not.toContain("is Failed");
  });

  it("leaves a redefined version as it was: a draining one stays served with its workers and record", () => {
    // v1 -> v2 (cutover; v1 draining), then spec.version v1 with another model file.
    const decision = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v9"),
        store: store("v2", { v1: "complete", v2: "complete" }, { backup: "v1" }),
        records: [
          record("v1", { activatedTime: ago(7000), deactivatedTime: ago(60), workers: true }),
          record("v2", { promotionStartTime: ago(3600), activatedTime: ago(60), workers: true }),
        ],
      }),
    );
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "VersionRedefined" });
    expect(decision.serve.sort()).toEqual(["v1", "v2"]);
    expect(decision.workers.sort()).toEqual(["v1", "v2"]);
    expect(decision.phases).toEqual({ v1: "Draining", v2: "Active" });
    expect(decision.conditions.find((condition) => condition.type === "Promoted")).toMatchObject({
      status: "False",
      reason: "VersionRedefined",
      message: expect.stringMatching(/^version v1 is Draining: /),
    });
    expect(decision.records.find((entry) => entry.version === "v1")?.spec).toEqual(specOf("v1"));
    expect(decision.collect).toEqual([]);
  });

  it("refuses the store's current version built by another model file it has no record of", () => {
    // The model deleted (its records with it) and applied again, or another model taking the store
    // over, naming the pointer's version with another model file.
    const withDigest = (sha256: string) => ({ ...specOf("v1"), model: { ...specOf("v1").model, sha256 } });
    const inputs = promoting({
      specVersion: "v1",
      spec: withDigest("b".repeat(64)),
      store: store("v1", { v1: "complete", v2: "building" }, { digests: { v1: `sha256:${"a".repeat(64)}` } }),
      statusActive: undefined,
      records: [],
      serving: {},
      writersPresent: [],
    });
    const decision = decidePromotion(inputs);
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "VersionRedefined" });
    expect(decision.verdict.message).toContain(`was built with model sha256:${"a".repeat(64)}`);
    expect(decision.switchPointer).toBeUndefined();
    expect(decision.serve).toEqual([]);
    expect(decision.activeVersion).toBeUndefined();
    expect(decision.records).toEqual([]);
    expect(decision.collect).toEqual([]);
    expect(decision.bootstrap).toBeUndefined();
    // The pointer's backup, another model's build, named while this model's v2 is current.
    const backup = decidePromotion({
      ...inputs,
      store: store(
        "v2",
        { v1: "complete", v2: "complete" },
        { backup: "v1", digests: { v1: `sha256:${"a".repeat(64)}` } },
      ),
      statusActive: "v2",
      records: [record("v2", { activatedTime: ago(60), workers: true })],
      serving: { v2: ready },
    });
    expect(backup.verdict).toMatchObject({ state: "Stalled", reason: "VersionRedefined" });
    expect(backup.verdict.message).toContain("the backup");
    expect(backup.switchPointer).toBeUndefined();
    expect(backup.bootstrap).toBeUndefined();
    expect(backup.serve).toEqual(["v2"]);
    expect(backup.workers).toEqual(["v2"]);
    expect(backup.queryVersion).toBe("v2");
    expect(backup.activeVersion).toBe("v2");
    expect(backup.phases).toEqual({ v1: "Failed", v2: "Active" });
    // The model that built it, applied again: served again without a bootstrap.
    const same = decidePromotion({ ...inputs, spec: withDigest("a".repeat(64)) });
    expect(same.verdict.reason).not.toBe("VersionRedefined");
    expect(same.serve).toEqual(["v1"]);
  });

  it("refuses the store's current version built with another prompt template, unless none is registered", () => {
    const spec = { ...specOf("v1"), model: { ...specOf("v1").model, sha256: "a".repeat(64) } };
    const template = spec.prompts.job!;
    const registered = (prompts?: Record<string, string>) =>
      store(
        "v1",
        { v1: "complete" },
        {
          digests: { v1: `sha256:${spec.model.sha256}` },
          ...(prompts !== undefined ? { prompts: { v1: prompts } } : {}),
        },
      );
    const inputs = promoting({
      specVersion: "v1",
      spec,
      store: registered({ job: promptDigest("Other: {{title}}") }),
      statusActive: undefined,
      records: [],
      serving: {},
      writersPresent: [],
    });
    const decision = decidePromotion(inputs);
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "VersionRedefined" });
    expect(decision.verdict.message).toContain(
      `was built with prompt template ${promptDigest("Other: {{title}}")} for entity job, not this spec's ${promptDigest(template)}`,
    );
    expect(decision.serve).toEqual([]);
    expect(decision.collect).toEqual([]);
    expect(decision.switchPointer).toBeUndefined();
    // The same template, a template only for an entity the spec has none for, or none registered (an
    // older writer): taken back as it is.
    const kept: (Record<string, string> | undefined)[] = [
      { job: promptDigest(template) },
      { resume: promptDigest("R") },
      undefined,
    ];
    for (const prompts of kept) {
      const taken = decidePromotion({ ...inputs, store: registered(prompts) });
      expect(taken.verdict.reason).not.toBe("VersionRedefined");
      expect(taken.serve).toEqual(["v1"]);
    }
  });

  it("refuses the store's current version built with other vector settings, unless none are registered", () => {
    const spec = { ...specOf("v1"), model: { ...specOf("v1").model, sha256: "a".repeat(64) } };
    const registered = (settings?: Record<string, string | number | boolean>) =>
      store(
        "v1",
        { v1: "complete" },
        {
          digests: { v1: `sha256:${spec.model.sha256}` },
          ...(settings !== undefined ? { vectorSettings: { v1: settings } } : {}),
        },
      );
    const own = vectorSettingsOf(spec.model);
    const other = { ...own, pooling: "cls", precision: own.precision === "fp16" ? "fp32" : "fp16" } as const;
    const inputs = promoting({
      specVersion: "v1",
      spec,
      store: registered(other),
      statusActive: undefined,
      records: [],
      serving: {},
      writersPresent: [],
    });
    const decision = decidePromotion(inputs);
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "VersionRedefined" });
    expect(decision.verdict.message).toContain(
      `was built with pooling cls, not this spec's ${own.pooling}, and precision ${other.precision}, not this spec's ${own.precision}; give this spec a new version name`,
    );
    expect(decision.serve).toEqual([]);
    expect(decision.collect).toEqual([]);
    expect(decision.switchPointer).toBeUndefined();
    // The same settings, or none registered (only older writers): taken back as it is.
    for (const settings of [own, undefined]) {
      const taken = decidePromotion({ ...inputs, store: registered(settings) });
      expect(taken.verdict.reason).not.toBe("VersionRedefined");
      expect(taken.serve).toEqual(["v1"]);
    }
  });

  it("leaves a redefined build in flight as it was: served, its record and workers kept", () => {
    const decision = decidePromotion(
      promoting({
        spec: specOf("v9"),
        store: store("v1", { v1: "complete", v2: "building" }),
        records: [
          record("v1", { activatedTime: ago(7000), workers: true }),
          record("v2", { promotionStartTime: ago(60), workers: true, fromBootstrap: true }),
        ],
      }),
    );
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "VersionRedefined" });
    expect(decision.serve.sort()).toEqual(["v1", "v2"]);
    expect(decision.workers.sort()).toEqual(["v1", "v2"]);
    expect(decision.phases).toEqual({ v1: "Active", v2: "Failed" });
    expect(decision.records.find((entry) => entry.version === "v2")?.spec).toEqual(specOf("v2"));
  });
});

describe("manual cutover", () => {
  it("waits in AwaitingCutover until approvedVersion names the candidate", () => {
    const waiting = decidePromotion(promoting({ policy: { ...policy, cutover: "Manual" } }));
    expect(waiting.phases.v2).toBe("AwaitingCutover");
    expect(waiting.switchPointer).toBeUndefined();
    expect(waiting.verdict).toMatchObject({ state: "Reconciling", reason: "AwaitingApproval" });
    const approvedOther = decidePromotion(
      promoting({ policy: { ...policy, cutover: "Manual", approvedVersion: "v1" } }),
    );
    expect(approvedOther.switchPointer).toBeUndefined();
    const approved = decidePromotion(
      promoting({ policy: { ...policy, cutover: "Manual", approvedVersion: "v2" } }),
    );
    expect(approved.switchPointer).toMatchObject({ kind: "flip", target: "v2" });
  });

  // Approvals name a version, and a name can be built again: once v2 left retention (its record and
  // vectors gone), spec.version set to v2 again started a new build that cut over on the approval
  // given for the old one. An approval counts for one build (status.approval.build): the one recorded
  // when it was first seen, else the first it counts for after, to which it is then bound.
  it("counts an approval only for the build it was given for, not a later build of the same name", () => {
    const manual = { ...policy, cutover: "Manual" as const, approvedVersion: "v2" };
    // Given for a build of v2 that started ago(20000), since collected; this build started ago(60).
    const given = { version: "v2", observedTime: ago(9000), build: ago(20000) };
    const stale = decidePromotion(promoting({ policy: manual, statusApproval: given }));
    expect(stale.switchPointer).toBeUndefined();
    expect(stale.phases.v2).toBe("AwaitingCutover");
    expect(stale.verdict).toMatchObject({ state: "Reconciling", reason: "ApprovalPredatesBuild" });
    expect(stale.verdict.message).toContain(
      `spec.promotion.approvedVersion v2 was given (${ago(9000)}) for the build of v2 that started ${ago(20000)}, not this one (started ${ago(60)})`,
    );
    expect(stale.approval).toEqual(given);
    // Given for this build: counts.
    const bound = { ...given, build: ago(60) };
    const approved = decidePromotion(promoting({ policy: manual, statusApproval: bound }));
    expect(approved.switchPointer).toMatchObject({ kind: "flip", target: "v2" });
    expect(approved.approval).toEqual(bound);
    // Seen before any build of v2 (committed before spec.version, or with it), or after this one
    // started: counts, and is bound to this build.
    for (const observedTime of [ago(9000), ago(60), ago(30)]) {
      const first = decidePromotion(
        promoting({ policy: manual, statusApproval: { version: "v2", observedTime } }),
      );
      expect(first.switchPointer).toMatchObject({ kind: "flip", target: "v2" });
      expect(first.approval).toEqual({ version: "v2", observedTime, build: ago(60) });
    }
    // Not seen before (just set, or status written by an older operator), or seen naming another
    // version: seen now, given for the build of v2 recorded now, so it counts.
    for (const statusApproval of [undefined, { version: "v1", observedTime: ago(9000), build: ago(9000) }]) {
      const now = decidePromotion(promoting({ policy: manual, statusApproval }));
      expect(now.switchPointer).toMatchObject({ kind: "flip", target: "v2" });
      expect(now.approval).toEqual({ version: "v2", observedTime: ago(0), build: ago(60) });
    }
    // Removed: forgotten, so setting it again counts from then.
    const removed = decidePromotion(
      promoting({ policy: { ...policy, cutover: "Manual" }, statusApproval: given }),
    );
    expect(removed.approval).toBeUndefined();
  });

  // Was (first cut of the rule above): an approval committed to Git before spec.version named the
  // version was refused as "given for an earlier build" although no build of it had existed.
  it("binds an approval set before its version was named to the first build of it, and to no later one", () => {
    const early = { version: "v2", observedTime: ago(9000) };
    // spec.version still v1 (v2 not built): the approval stays unbound.
    const before = decidePromotion(
      promoting({
        specVersion: "v1",
        policy: { ...policy, cutover: "Manual", approvedVersion: "v2" },
        records: [record("v1", { activatedTime: ago(7000) })],
        statusApproval: early,
      }),
    );
    expect(before.approval).toEqual(early);
    // v2's build (started ago(60)) then counts and binds it; a later build of v2 does not.
    const first = decidePromotion(
      promoting({ policy: { ...policy, cutover: "Manual", approvedVersion: "v2" }, statusApproval: early }),
    );
    expect(first.switchPointer).toMatchObject({ kind: "flip", target: "v2" });
    const later = decidePromotion(
      promoting({
        policy: { ...policy, cutover: "Manual", approvedVersion: "v2" },
        statusApproval: first.approval,
        records: [record("v1", { activatedTime: ago(7000) }), record("v2", { promotionStartTime: ago(30) })],
      }),
    );
    expect(later.switchPointer).toBeUndefined();
    expect(later.verdict.reason).toBe("ApprovalPredatesBuild");
  });

  it("is not Stalled by the deadline while it waits for a person", () => {
    const decision = decidePromotion(
      promoting({
        policy: { ...policy, cutover: "Manual" },
        records: [
          record("v1", { activatedTime: ago(7000) }),
          record("v2", { promotionStartTime: ago(9000) }),
        ],
      }),
    );
    expect(decision.verdict.state).toBe("Reconciling");
  });
});

// The version readers use keeps its phase while its serving pods roll (`kubectl rollout restart`, a
// serving setting changed in the spec, an operator upgrade): readers stay on it throughout, so neither
// `status.versions[].phase` nor a phase Event may say it went back to Deploying (serving starting).
describe("the active version's serving rolls out", () => {
  const rollingOut = { ...rolling, message: "1/2 replicas ready, 1/2 updated", readyReplicas: 1 };

  it.each([
    ["with a store whose pointer names it", { store: store("v1", { v1: "complete" }), statusActive: "v1" }],
    ["with no pipelines (no store), the status naming it active", { store: undefined, statusActive: "v1" }],
  ] as const)("%s: stays Active, Reconciling while the rollout runs", (_, observed) => {
    const decision = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        records: [record("v1", { activatedTime: ago(7000), workers: observed.store !== undefined })],
        serving: { v1: rollingOut },
        writersPresent: ["v1"],
        ...observed,
      }),
    );
    expect(decision.phases).toEqual({ v1: "Active" });
    expect(decision.activeVersion).toBe("v1");
    expect(decision.verdict).toMatchObject({ state: "Reconciling", reason: "RollingOut" });
    expect(decision.switchPointer).toBeUndefined();
  });

  it("a first version no reader used yet (no store, not active in the status) is Deploying until ready", () => {
    const decision = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: undefined,
        statusActive: undefined,
        records: [record("v1", { promotionStartTime: ago(10) })],
        serving: { v1: rollingOut },
        writersPresent: [],
      }),
    );
    expect(decision.phases).toEqual({ v1: "Deploying" });
  });
});

// The record of the version readers use lost its activation time (its ConfigMap deleted by hand and
// written again by the next reconcile): the Promoted condition said "active since <now>", a new time
// at every reconcile (a status write every resync), and the record never got one again.
describe("the active version's record without an activation time", () => {
  const lost = (overrides: Partial<PromotionInputs> = {}) =>
    decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: undefined,
        statusActive: "v1",
        records: [record("v1", { promotionStartTime: ago(5) })],
        serving: { v1: ready },
        writersPresent: [],
        ...overrides,
      }),
    );
  const activated = (decision: PromotionDecision) =>
    decision.records.find((entry) => entry.version === "v1")?.activatedTime;

  it("gets the time the status recorded back", () => {
    const decision = lost({ statusActivatedTime: ago(7000) });
    expect(activated(decision)).toBe(ago(7000));
    expect(condition(decision, "Promoted")?.message).toBe(`version v1 active since ${ago(7000)}`);
  });

  it("without one in the status, records the time once: the next reconcile says the same", () => {
    const first = lost();
    expect(activated(first)).toBeDefined();
    const next = lost({ records: first.records, now: new Date(now.getTime() + 30_000) });
    expect(activated(next)).toBe(activated(first));
    expect(condition(next, "Promoted")?.message).toBe(condition(first, "Promoted")?.message);
  });

  // The record written again starts its promotion now, after the activation time restored: a rollback
  // to it later must still be a new attempt (its deadline from then), as for any version that was live.
  it("a rollback to it later is a new attempt, its deadline measured from then", () => {
    const restored = lost({ statusActivatedTime: ago(7000) }).records.find(
      (entry) => entry.version === "v1",
    )!;
    const later = new Date(now.getTime() + 5000_000);
    const left = new Date(now.getTime() + 1000_000).toISOString().replace(/\.\d{3}Z$/, "Z");
    const back = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: undefined,
        statusActive: "v2",
        records: [
          { ...restored, deactivatedTime: left },
          record("v2", { promotionStartTime: left, activatedTime: left }),
        ],
        serving: { v1: rolling, v2: ready },
        writersPresent: [],
        now: later,
      }),
    );
    expect(back.phases.v1).toBe("Deploying");
    expect(back.records.find((entry) => entry.version === "v1")?.promotionStartTime).toBe(
      later.toISOString().replace(/\.\d{3}Z$/, "Z"),
    );
  });
});

describe("restart at each step: the next reconcile decides from what it observes", () => {
  it("after a flip whose records were never written: v2 active, v1 draining from the flip time, no second flip", () => {
    const flippedAtMs = now.getTime() - 5_000;
    const decision = decidePromotion(
      promoting({ store: store("v2", { v1: "complete", v2: "complete" }, { backup: "v1", flippedAtMs }) }),
    );
    expect(decision.switchPointer).toBeUndefined();
    expect(decision).toMatchObject({ queryVersion: "v2", activeVersion: "v2" });
    expect(decision.records.find((entry) => entry.version === "v1")?.deactivatedTime).toBe(ago(5));
    expect(decision.records.find((entry) => entry.version === "v2")?.activatedTime).toBe(ago(5));
    expect(decision.phases.v1).toBe("Draining");
  });

  it("decides the same step twice from the same observations (a crash before acting repeats it)", () => {
    for (const overrides of [
      {},
      { candidate: { bootstrap: undefined } },
      { serving: { v1: ready, v2: rolling } },
    ]) {
      expect(decidePromotion(promoting(overrides))).toEqual(decidePromotion(promoting(overrides)));
    }
  });

  // The operator died after the flip and before it wrote the records, and the spec moved on before
  // it came back: the pointer is the only witness that v2 went live, so v2 must be kept as a version
  // readers used (drained, then retained), not dropped as a build that never went live.
  describe("after a flip whose records were never written, spec.version changed meanwhile", () => {
    const flippedAtMs = now.getTime() - 5_000;
    const flipped = store("v2", { v1: "complete", v2: "complete" }, { backup: "v1", flippedAtMs });
    const recordOf = (decision: PromotionDecision, version: string) =>
      decision.records.find((entry) => entry.version === version);

    it("to v3: v2 is active since the flip, and after v3's cutover a rollback to v2 is one flip", () => {
      const restarted = decidePromotion(
        promoting({
          specVersion: "v3",
          spec: specOf("v3"),
          store: flipped,
          serving: { v1: ready, v2: ready },
        }),
      );
      expect(restarted).toMatchObject({ queryVersion: "v2", activeVersion: "v2" });
      expect(restarted.switchPointer).toBeUndefined();
      expect(recordOf(restarted, "v2")?.activatedTime).toBe(ago(5));
      expect(recordOf(restarted, "v1")?.deactivatedTime).toBe(ago(5));
      expect(restarted.phases).toMatchObject({ v1: "Draining", v2: "Active" });

      const v3Live = decidePromotion(
        promoting({
          specVersion: "v3",
          spec: specOf("v3"),
          store: store(
            "v3",
            { v1: "complete", v2: "complete", v3: "complete" },
            { backup: "v2", flippedAtMs: now.getTime() },
          ),
          records: restarted.records.map((entry) =>
            entry.version === "v3" ? { ...entry, activatedTime: ago(0) } : entry,
          ),
          serving: { v1: ready, v2: ready, v3: ready },
        }),
      );
      expect(v3Live.phases.v2).toBe("Draining");
      const back = decidePromotion(
        promoting({
          specVersion: "v2",
          store: store(
            "v3",
            { v1: "complete", v2: "complete", v3: "complete" },
            { backup: "v2", flippedAtMs: now.getTime() },
          ),
          records: v3Live.records,
          serving: { v1: ready, v2: ready, v3: ready },
          candidate: {},
        }),
      );
      expect(back.switchPointer).toEqual({ kind: "rollback", expectedCurrent: "v3", target: "v2" });
      expect(back.bootstrap).toBeUndefined();
    });

    it("back to v1: flips back at once and keeps v2 draining, not dropped as never live", () => {
      const decision = decidePromotion(
        promoting({ specVersion: "v1", spec: specOf("v1"), store: flipped, candidate: {} }),
      );
      expect(decision.switchPointer).toEqual({ kind: "rollback", expectedCurrent: "v2", target: "v1" });
      expect(decision.phases).toEqual({ v1: "Active", v2: "Draining" });
      expect(recordOf(decision, "v2")).toMatchObject({ activatedTime: ago(5), deactivatedTime: ago(0) });
    });
  });
});

describe("supersede: a new spec.version mid-promotion leaves no orphans", () => {
  const superseded = (writersPresent: string[]) =>
    decidePromotion(
      promoting({
        specVersion: "v3",
        spec: specOf("v3"),
        store: store("v1", { v1: "complete", v2: "building" }),
        records: [
          record("v1", { activatedTime: ago(7000) }),
          record("v2", { promotionStartTime: ago(60), workers: true }),
        ],
        serving: { v1: ready, v2: ready, v3: rolling },
        // v3 has just become the spec's version: no BootstrapRun of it yet.
        candidate: {},
        writersPresent,
      }),
    );

  it("drops v2's record (its serving, workers and run go) and starts v3", () => {
    const decision = superseded(["v1", "v2"]);
    expect(decision.records.map((entry) => entry.version).sort()).toEqual(["v1", "v3"]);
    expect(decision.serve.sort()).toEqual(["v1", "v3"]);
    expect(decision.workers).toEqual(["v1"]);
    expect(decision.phases).toEqual({ v1: "Active", v3: "Deploying" });
    // Its writers still run: collecting now would let them recreate keys.
    expect(decision.collect).toEqual([]);
  });

  it("collects v2's partial vectors once its writers are gone", () => {
    expect(superseded(["v1"]).collect).toEqual(["v2"]);
  });

  // A newer release may add a registry state; after a downgrade this operator reads it (store/versions.ts
  // keeps it as written) and must neither collect that version nor count it complete.
  it("collects no store version in a state a newer release wrote", () => {
    const decision = decidePromotion(
      promoting({
        specVersion: "v3",
        spec: specOf("v3"),
        store: store("v1", { v1: "complete", v2: "sealed" }),
        records: [record("v1", { activatedTime: ago(7000) })],
        serving: { v1: ready, v3: rolling },
        candidate: {},
        writersPresent: ["v1"],
      }),
    );
    expect(decision.collect).toEqual([]);
  });

  it("polls until v2's vectors are collected: no event wakes a model that went back to its active version", () => {
    // v1 -> v2 -> v1 before the cutover: the model is settled, and each reconcile collects one
    // bounded step; worker Deployments (the pipelines' children) going away are not watched either.
    const reverted = (writersPresent: string[], collectionPollMs?: number) =>
      decidePromotion(
        promoting({
          specVersion: "v1",
          spec: specOf("v1"),
          store: store("v1", { v1: "complete", v2: "deleting" }),
          records: [
            record("v1", { activatedTime: ago(7000), workers: true }),
            record("v2", { promotionStartTime: ago(60), workers: true }),
          ],
          writersPresent,
          collectionPollMs,
        }),
      );
    expect(reverted(["v1", "v2"])).toMatchObject({ collect: [], requeueAfterMs: promotionPollMs });
    expect(reverted(["v1"])).toMatchObject({ collect: ["v2"], requeueAfterMs: promotionPollMs });
    // The operator's --collection-poll-seconds.
    expect(reverted(["v1"], 1_000)).toMatchObject({ collect: ["v2"], requeueAfterMs: 1_000 });
    const settled = decidePromotion(
      promoting({ specVersion: "v1", spec: specOf("v1"), store: store("v1", { v1: "complete" }) }),
    );
    expect(settled.requeueAfterMs).toBeUndefined();
  });

  it("back to v2 while its earlier build is being collected: collects it first, no workers or run meanwhile", () => {
    // v1 -> v2 -> v1 -> v2: the revert dropped v2's record and its garbage collection started.
    const returning = (versions: Parameters<typeof store>[1], writersPresent = ["v1"]) =>
      decidePromotion(
        promoting({
          store: store("v1", versions),
          records: [record("v1", { activatedTime: ago(7000), workers: true })],
          candidate: { bootstrap: undefined },
          writersPresent,
        }),
      );
    const waiting = returning({ v1: "complete", v2: "deleting" });
    expect(waiting.collect).toEqual(["v2"]);
    expect(waiting.bootstrap).toBeUndefined();
    expect(waiting.workers).toEqual(["v1"]);
    expect(waiting.records.find((entry) => entry.version === "v2")?.workers).toBe(false);
    expect(condition(waiting, "BootstrapComplete")).toMatchObject({ reason: "WaitingForCollection" });
    expect(waiting.switchPointer).toBeUndefined();
    // A writer of the earlier build still running would recreate what is collected.
    expect(returning({ v1: "complete", v2: "deleting" }, ["v1", "v2"]).collect).toEqual([]);
    const gone = returning({ v1: "complete" });
    expect(gone.collect).toEqual([]);
    expect(gone.bootstrap).toBe("v2");
    expect(gone.workers.sort()).toEqual(["v1", "v2"]);
  });

  it("back to v2 before its superseded build's collection started: collects that build first, then builds anew", () => {
    // v1 -> v2 -> v3 -> v2 with other prompts: v3 dropped v2's record while v2's workers were still
    // stopping, so its partial vectors are still `building`. A new run over them would keep them
    // (same source positions), two prompts' vectors in one version.
    const otherPrompts = { ...specOf("v2"), prompts: { job: "Role: {{title}}" } };
    const returning = (inputs: Partial<PromotionInputs>) =>
      decidePromotion(
        promoting({
          spec: otherPrompts,
          records: [record("v1", { activatedTime: ago(7000), workers: true })],
          candidate: { bootstrap: undefined },
          writersPresent: ["v1", "v2"],
          ...inputs,
        }),
      );
    const first = returning({ store: store("v1", { v1: "complete", v2: "building" }) });
    const v2 = (decision: PromotionDecision) => decision.records.find((entry) => entry.version === "v2")!;
    expect(v2(first)).toMatchObject({ earlierBuildInStore: true, workers: false });
    expect(first.bootstrap).toBeUndefined();
    expect(first.collect).toEqual([]); // its writers are still stopping
    expect(condition(first, "BootstrapComplete")).toMatchObject({ reason: "WaitingForCollection" });
    // The next reconcile reads v2's new record back: still the earlier build until the store let go.
    const records = [record("v1", { activatedTime: ago(7000), workers: true }), v2(first)];
    const writersGone = returning({
      store: store("v1", { v1: "complete", v2: "building" }),
      records,
      writersPresent: ["v1"],
    });
    expect(writersGone.collect).toEqual(["v2"]);
    expect(writersGone.bootstrap).toBeUndefined();
    const gone = returning({ store: store("v1", { v1: "complete" }), records, writersPresent: ["v1"] });
    expect(v2(gone).earlierBuildInStore).toBeUndefined();
    expect(gone.bootstrap).toBe("v2");
    expect(gone.workers.sort()).toEqual(["v1", "v2"]);
    // The build in flight is this record's own: a record that existed before the store entry.
    const ownBuild = returning({
      store: store("v1", { v1: "complete", v2: "building" }),
      records: [records[0]!, record("v2", { spec: otherPrompts, promotionStartTime: ago(60) })],
    });
    expect(ownBuild.bootstrap).toBe("v2");
    expect(ownBuild.collect).toEqual([]);
  });
});

describe("rollback", () => {
  const afterFlip = {
    store: store("v2", { v1: "complete", v2: "complete" }, { backup: "v1", kind: "flip" as const }),
  };
  const rollbackTo = (v1: Parameters<typeof record>[1], overrides = {}) =>
    decidePromotion(
      promoting({
        ...afterFlip,
        specVersion: "v1",
        spec: specOf("v1"),
        records: [
          record("v1", { activatedTime: ago(7000), ...v1 }),
          record("v2", { activatedTime: ago(100), workers: true }),
        ],
        ...overrides,
      }),
    );

  it("to a draining version flips the pointer and the query Service back at once", () => {
    const decision = rollbackTo({ deactivatedTime: ago(100), workers: true });
    expect(decision.switchPointer).toEqual({ kind: "rollback", expectedCurrent: "v2", target: "v1" });
    expect(decision).toMatchObject({ queryVersion: "v1", activeVersion: "v1" });
    expect(condition(decision, "RolledBack")).toMatchObject({ status: "True", reason: "RolledBack" });
    expect(decision.phases).toEqual({ v1: "Active", v2: "Draining" });
    expect(decision.bootstrap).toBeUndefined();
  });

  it("with cutover Manual goes at once, without approval, while approvedVersion still names v2", () => {
    const decision = rollbackTo(
      { deactivatedTime: ago(100), workers: true },
      { policy: { ...policy, cutover: "Manual", approvedVersion: "v2" } },
    );
    expect(decision.switchPointer).toEqual({ kind: "rollback", expectedCurrent: "v2", target: "v1" });
    expect(decision.phases).toEqual({ v1: "Active", v2: "Draining" });
  });

  it("to a retained version past its bake serves it and restarts its workers, then flips once caught up", () => {
    const stopped = { deactivatedTime: ago(5000) };
    const starting = rollbackTo(stopped, { serving: { v2: ready } });
    expect(starting.phases.v1).toBe("Deploying");
    expect(starting.serve.sort()).toEqual(["v1", "v2"]);
    expect(starting.workers.sort()).toEqual(["v1", "v2"]);
    expect(starting.records.find((entry) => entry.version === "v1")).toMatchObject({ fromBootstrap: false });
    expect(starting.switchPointer).toBeUndefined();
    const behind = rollbackTo(stopped, { candidate: { lag: { pipelines: 1, reporting: 1, records: 500 } } });
    expect(behind.phases.v1).toBe("CatchingUp");
    expect(condition(behind, "RolledBack")).toMatchObject({
      status: "False",
      reason: "RollingBack",
      message: "rolling back to retained version v1: readers return to it once its workers caught up",
    });
    const caughtUp = rollbackTo(stopped, { candidate: { lag: { pipelines: 1, reporting: 1, records: 0 } } });
    expect(caughtUp.switchPointer).toEqual({ kind: "rollback", expectedCurrent: "v2", target: "v1" });
  });

  it("to a version beyond retention whose collection is under way finishes it, then promotes from scratch", () => {
    const rollingBack = (versions: Parameters<typeof store>[1], v1: Parameters<typeof record>[1] = {}) =>
      decidePromotion(
        promoting({
          store: store("v3", { v3: "complete", v2: "complete", ...versions }, { backup: "v2" }),
          specVersion: "v1",
          spec: specOf("v1"),
          records: [
            record("v3", { activatedTime: ago(4000), workers: true }),
            record("v2", { activatedTime: ago(8000), deactivatedTime: ago(4000) }),
            record("v1", { activatedTime: ago(9000), deactivatedTime: ago(8000), ...v1 }),
          ],
          serving: { v3: ready, v1: ready },
          candidate: { bootstrap: undefined },
          writersPresent: ["v3"],
        }),
      );
    const collecting = rollingBack({ v1: "deleting" });
    expect(collecting.collect).toEqual(["v1"]);
    expect(collecting.switchPointer).toBeUndefined();
    expect(collecting.bootstrap).toBeUndefined();
    expect(collecting.workers).toEqual(["v3"]);
    expect(condition(collecting, "RolledBack")).toMatchObject({
      status: "False",
      reason: "VectorsCollected",
    });
    // The next reconcile, once the store let go: the record kept what the previous one marked.
    const collected = rollingBack(
      {},
      collecting.records.find((entry) => entry.version === "v1"),
    );
    expect(collected.bootstrap).toBe("v1");
    expect(collected.collect).toEqual([]);
    expect(condition(collected, "RolledBack")).toMatchObject({ status: "False", reason: "VectorsCollected" });
  });

  it("to a collected version promotes it from scratch and says so", () => {
    const decision = rollbackTo(
      { deactivatedTime: ago(5000), collected: true },
      { store: store("v2", { v2: "complete" }, { backup: null }), candidate: { bootstrap: undefined } },
    );
    expect(decision.switchPointer).toBeUndefined();
    expect(decision.bootstrap).toBe("v1");
    expect(decision.phases.v1).toBe("Bootstrapping");
    expect(condition(decision, "RolledBack")).toMatchObject({ status: "False", reason: "VectorsCollected" });
    // Its clock restarted: an old promotionStartTime does not make the rebuild overdue at once.
    expect(decision.records.find((entry) => entry.version === "v1")?.promotionStartTime).toBe(ago(0));
  });

  // The last collection step and the record saying so are two reconciles apart: a revert landing in
  // between finds the vectors gone and the record not yet marked.
  it("to a version whose collection finished before its record said so: the same, VectorsCollected", () => {
    const decision = rollbackTo(
      { deactivatedTime: ago(5000) },
      { store: store("v2", { v2: "complete" }, { backup: null }), candidate: { bootstrap: undefined } },
    );
    expect(decision.switchPointer).toBeUndefined();
    expect(decision.bootstrap).toBe("v1");
    expect(condition(decision, "RolledBack")).toMatchObject({ status: "False", reason: "VectorsCollected" });
    expect(decision.records.find((entry) => entry.version === "v1")).toMatchObject({ collected: true });
  });
});

describe("a store that lost its data", () => {
  // Redis restarted without persistence (or was flushed): no pointer, no registry, no vectors. The
  // operator never collects the version readers use, so this is not a garbage collection.
  const lost = (v1: Parameters<typeof record>[1] = {}) =>
    decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store(null, {}),
        statusActive: "v1",
        records: [record("v1", { activatedTime: ago(7000), workers: true, store: "jobs-store", ...v1 })],
        serving: { v1: ready },
        candidate: {},
        writersPresent: ["v1"],
      }),
    );

  it("rebuilds the active version and says the store lost it, not that it was collected", () => {
    const decision = lost();
    expect(decision.bootstrap).toBe("v1");
    // Before: reason VectorsCollected, "its vectors were garbage-collected".
    expect(condition(decision, "RolledBack")).toMatchObject({ status: "False", reason: "StoreDataLost" });
    expect(condition(decision, "RolledBack")?.message).toMatch(/store has lost version v1/);
    // The next reconcile reads the record the first one marked: the same explanation.
    const again = lost(decision.records.find((entry) => entry.version === "v1"));
    expect(condition(again, "RolledBack")).toMatchObject({ reason: "StoreDataLost" });
  });

  // Readers keep the pointer with the highest epoch they saw; the lost pointer's epoch was 0 again.
  it("writes the rebuilt pointer above any epoch readers may hold (the flip time in ms)", () => {
    const rebuilding = lost();
    const rebuilt = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store(null, { v1: "complete" }),
        statusActive: undefined,
        records: rebuilding.records,
        serving: { v1: ready },
        candidate: { ...passing, coverage: { candidateLive: 1000 } },
        writersPresent: ["v1"],
      }),
    );
    expect(rebuilt.switchPointer).toEqual({
      kind: "rollback",
      expectedCurrent: null,
      target: "v1",
      minEpoch: now.getTime(),
    });
    // A store restored from an older snapshot (RDB only): its pointer names v0 at that snapshot's
    // epoch, below what readers hold; the rebuilt v1 goes above it all the same.
    const restored = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store("v0", { v0: "complete", v1: "complete" }),
        statusActive: "v0",
        records: rebuilding.records,
        serving: { v1: ready },
        candidate: { ...passing, coverage: { candidateLive: 1000 } },
        writersPresent: ["v1"],
      }),
    );
    expectSwitchAboveNow(restored, "v0", "v1");
    // A first publish (no version was ever live) counts from 1 as before.
    const first = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store(null, { v1: "complete" }),
        statusActive: undefined,
        records: [record("v1", { promotionStartTime: ago(60) })],
        serving: { v1: ready },
        candidate: { ...passing, coverage: { candidateLive: 1000 } },
        writersPresent: ["v1"],
      }),
    );
    expect(first.switchPointer).toEqual({ kind: "flip", expectedCurrent: null, target: "v1" });
  });

  // The approval of v1 was given (and seen) during v1's promotion, long before the loss. The rebuild
  // restarts v1's promotion clock, and v1 waited as ApprovalPredatesBuild ("given for an earlier build
  // of the same name") for a person to remove and set approvedVersion again while readers' store had
  // no pointer: the store lost the build readers used, it was not built anew by anyone's choice.
  it("with cutover Manual restores the lost active version on the approval it went live on", () => {
    const manual = { ...policy, cutover: "Manual" as const, approvedVersion: "v1" };
    const statusApproval = { version: "v1", observedTime: ago(7100) };
    const rebuilding = decidePromotion(
      promoting({
        policy: manual,
        statusApproval,
        specVersion: "v1",
        spec: specOf("v1"),
        store: store(null, {}),
        statusActive: "v1",
        records: [record("v1", { activatedTime: ago(7000), workers: true, store: "jobs-store" })],
        serving: { v1: ready },
        candidate: {},
        writersPresent: ["v1"],
      }),
    );
    expect(rebuilding.bootstrap).toBe("v1");
    const rebuilt = decidePromotion(
      promoting({
        policy: manual,
        statusApproval,
        specVersion: "v1",
        spec: specOf("v1"),
        store: store(null, { v1: "complete" }),
        statusActive: undefined,
        records: rebuilding.records,
        serving: { v1: ready },
        candidate: { ...passing, coverage: { candidateLive: 1000 } },
        writersPresent: ["v1"],
      }),
    );
    expect(rebuilt.verdict.reason).not.toBe("ApprovalPredatesBuild");
    expect(rebuilt.switchPointer).toMatchObject({ kind: "rollback", target: "v1" });
    // Without an approval of v1 it waits for one, as before.
    const unapproved = decidePromotion(
      promoting({
        policy: { ...policy, cutover: "Manual" },
        specVersion: "v1",
        spec: specOf("v1"),
        store: store(null, { v1: "complete" }),
        statusActive: undefined,
        records: rebuilding.records,
        serving: { v1: ready },
        candidate: { ...passing, coverage: { candidateLive: 1000 } },
        writersPresent: ["v1"],
      }),
    );
    expect(unapproved.switchPointer).toBeUndefined();
    expect(unapproved.verdict.reason).toBe("StoreDataLost");
  });

  it("says it in the verdict (Ready's reason and message) and warns once with an Event", () => {
    const decision = lost();
    // Before: reason Bootstrapping, "promoting v1: ServingReady…", as if a new version were rolled out.
    expect(decision.verdict).toMatchObject({ state: "Reconciling", reason: "StoreDataLost" });
    expect(decision.verdict.message).toMatch(/store lost version v1, the active one/);
    expect(decision.verdict.message).toMatch(/rebuilt from the changelog/);
    // jude_promotion_store_data_lost (the chart's JudeStoreDataLost) names the lost version.
    expect(decision.storeDataLost).toBe("v1");
    const warned = promotionEvents(undefined, decision).filter((event) => event.reason === "StoreDataLost");
    expect(warned).toEqual([{ warning: true, reason: "StoreDataLost", message: decision.verdict.message }]);
    // Not again while the rebuild goes on.
    const previous = {
      conditions: [{ type: "Reconciling", status: "True", reason: "StoreDataLost", message: "…" }],
    } as Parameters<typeof promotionEvents>[0];
    expect(promotionEvents(previous, decision).some((event) => event.reason === "StoreDataLost")).toBe(false);
  });

  // Lost mid-promotion (v2 bootstrapping, v1 active): readers from before keep v1's pointer and get
  // what v1's workers write after the loss. The query Service moved to v2's encoder (gates not passed)
  // and the verdict read as an ordinary promotion.
  it("keeps the query Service on the version readers used when it is lost mid-promotion", () => {
    const decision = decidePromotion(
      promoting({
        store: store(null, {}),
        records: [
          record("v1", { activatedTime: ago(7000), workers: true, store: "jobs-store" }),
          record("v2", { promotionStartTime: ago(60), workers: true, fromBootstrap: true }),
        ],
        candidate: {},
      }),
    );
    expect(decision.switchPointer).toBeUndefined();
    expect(decision.queryVersion).toBe("v1");
    expect(decision.serve).toContain("v1");
    expect(decision.verdict).toMatchObject({ state: "Reconciling", reason: "StoreDataLost" });
    expect(decision.verdict.message).toMatch(
      /store lost version v1, the active one .* until version v2, whose promotion goes on, is switched to/,
    );
    expect(decision.storeDataLost).toBe("v1");
  });

  // A store without a pointer is also what a model served without a store finds when its first
  // pipeline is applied: its active version was never in a store, so nothing was lost. It said
  // StoreDataLost (Ready, Warning Event, RolledBack) and its first flip was a "rollback" at epoch ~1.8e12.
  it("is not what a serving-only model given its first pipeline finds", () => {
    // The record as the operator wrote it while no pipeline named the model, read back.
    const [servedOnly] = [record("v1", { activatedTime: ago(7000) })].map((entry) =>
      parseVersionRecord(desiredVersionRecord(exampleModel(), entry))!,
    );
    const firstPipeline = (fields: Partial<Parameters<typeof promoting>[0]>) =>
      decidePromotion(
        promoting({
          specVersion: "v1",
          spec: specOf("v1"),
          statusActive: "v1",
          records: [servedOnly!],
          serving: { v1: ready },
          writersPresent: [],
          ...fields,
        }),
      );
    const building = firstPipeline({ store: store(null, {}), candidate: {} });
    expect(building).toMatchObject({ queryVersion: "v1", bootstrap: "v1" });
    expect(building.verdict).toMatchObject({ state: "Reconciling", reason: "Creating" });
    // Being built, not yet promoted: "was promoted" read as done on the dashboard while it deployed.
    expect(condition(building, "RolledBack")).toMatchObject({
      reason: "NotRolledBack",
      message: "version v1 is promoted as a new build, not rolled back to",
    });
    expect(promotionEvents(undefined, building).some((event) => event.warning)).toBe(false);
    const built = firstPipeline({
      store: store(null, { v1: "complete" }),
      records: building.records,
      candidate: { ...passing, coverage: { candidateLive: 1000 } },
      writersPresent: ["v1"],
    });
    expect(built.switchPointer).toEqual({ kind: "flip", expectedCurrent: null, target: "v1" });
  });
});

// Readers keep the pointer with the highest epoch they saw (store/pointer-watcher.ts). The status
// records the highest epoch the operator wrote or saw (status.storeEpoch), and every switch goes above
// it as above the pointer's own: a store rewound below it is then caught whatever version its pointer
// names, and whatever the clock of the replica that switches says.
describe("the pointer's epoch: above any epoch readers may hold", () => {
  // v1 -> v2 (epoch 2), rolled back to v1 (epoch 3), then Redis restarts from a snapshot taken after
  // v1's first flip: the pointer names v1 again, at epoch 1. Nothing looks lost (v1 is the version the
  // operator switched to last), yet a flip to v2 at epoch 2 would be ignored by readers holding 3.
  it("switches above the epoch the status recorded when the store came back with the same version", () => {
    const decision = decidePromotion(
      promoting({
        store: store("v1", { v1: "complete", v2: "complete" }, { epoch: 1 }),
        statusStoreEpoch: 3,
      }),
    );
    expect(decision.switchPointer).toMatchObject({ expectedCurrent: "v1", target: "v2", minEpoch: 4 });
    expect(decision.storeEpoch).toBe(4);
  });

  // A lost pointer was written at the switch time in ms; the next loss is switched by a replica whose
  // clock is behind (a leader change, an NTP step back): its time is below the epoch readers hold.
  it("does not go below an earlier high epoch when the clock is behind it", () => {
    const earlier = now.getTime() + 60_000;
    const decision = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store(null, { v1: "complete" }, { epoch: 0 }),
        statusActive: undefined,
        statusStoreEpoch: earlier,
        records: [record("v1", { activatedTime: ago(7000), collected: true, store: "jobs-store" })],
        serving: { v1: ready },
        candidate: { ...passing, coverage: { candidateLive: 1000 } },
        writersPresent: ["v1"],
      }),
    );
    expect(decision.switchPointer).toMatchObject({
      expectedCurrent: null,
      target: "v1",
      minEpoch: earlier + 1,
    });
    expect(decision.storeEpoch).toBe(earlier + 1);
  });

  it("counts on from the pointer as before when nothing was rewound", () => {
    const decision = decidePromotion(
      promoting({
        store: store("v1", { v1: "complete", v2: "complete" }, { epoch: 7 }),
        statusStoreEpoch: 7,
      }),
    );
    expect(decision.switchPointer).toEqual({ kind: "flip", expectedCurrent: "v1", target: "v2" });
    expect(decision.storeEpoch).toBe(8);
  });

  it("records the pointer's epoch while nothing switches, and keeps the higher one recorded", () => {
    const settled = (epoch: number, statusStoreEpoch: number | undefined) =>
      decidePromotion(
        promoting({
          specVersion: "v1",
          spec: specOf("v1"),
          store: store("v1", { v1: "complete" }, { epoch }),
          statusStoreEpoch,
          records: [record("v1", { activatedTime: ago(7000), workers: true })],
          serving: { v1: ready },
          writersPresent: ["v1"],
        }),
      );
    expect(settled(5, undefined).storeEpoch).toBe(5);
    expect(settled(5, 2).storeEpoch).toBe(5);
    // A rewound store (epoch 1) does not lower what readers may hold.
    expect(settled(1, 3).storeEpoch).toBe(3);
    expect(decidePromotion(promoting({ store: undefined, statusStoreEpoch: 4 })).storeEpoch).toBe(4);
  });
});

// v0 -> v1 (epoch 2), then v2 bootstrapping when Redis restarts from a snapshot taken while v0 was
// active: the pointer names v0 at epoch 1, v1's registry entry and vectors are gone. Readers from
// before hold v1's pointer at epoch 2. Every switch (the operator's, or one by hand through the flip
// and rollback scripts) writes above the epoch it finds, so a pointer below status.storeEpoch is lost
// data, not a hand move.
describe("a store rewound below the epoch the operator wrote", () => {
  /** The pointer as the snapshot holds it: on v0 at epoch 1, flipped before v1's cutover. */
  const snapshotPointer = { epoch: 1, flippedAtMs: Date.parse(ago(9000)) };
  /** v0's record: active until v1's cutover 7000 s ago, in the store the snapshot restored. */
  const v0BeforeCutover = () =>
    record("v0", { activatedTime: ago(9000), deactivatedTime: ago(7000), store: "jobs-store" });
  /** v2 promoted over v1 (status.storeEpoch 2) in a store rewound to `pointer`; `fields` override. */
  const rewoundInputs = (pointer: Partial<StoreObservation>, fields: Partial<PromotionInputs> = {}) =>
    promoting({
      store: store("v0", { v0: "complete", v2: "building" }, pointer),
      statusActive: "v1",
      statusStoreEpoch: 2,
      records: [
        v0BeforeCutover(),
        record("v1", { activatedTime: ago(7000), workers: true, store: "jobs-store" }),
        record("v2", { promotionStartTime: ago(60) }),
      ],
      serving: { v0: ready, v1: ready, v2: ready },
      candidate: { bootstrap: { ...succeeded, phase: "Running", percent: 40 } },
      writersPresent: ["v1", "v2"],
      ...fields,
    });
  const rewound = (pointer: Partial<StoreObservation>) => decidePromotion(rewoundInputs(pointer));
  /** The Events `decision` gives after the status that recorded v1 active at epoch 2. */
  const eventsFromRecordedStatus = (decision: PromotionDecision) =>
    promotionEvents(
      { activeVersion: "v1", storeEpoch: 2 } as Parameters<typeof promotionEvents>[0],
      decision,
    );

  it("is said as a loss of the version readers used, mid-promotion", () => {
    const decision = rewound(snapshotPointer);
    // Before: reason Bootstrapping ("promoting v2: …") and no jude_promotion_store_data_lost.
    expect(decision.verdict).toMatchObject({ state: "Reconciling", reason: "StoreDataLost" });
    expect(decision.verdict.message).toMatch(
      /the store was rewound .*: its pointer names version v0 at epoch 1, below epoch 2, the highest the operator wrote; version v1, the active one, lost .*readers opened since read version v0's vectors .* until version v2, whose promotion goes on, is switched to above epoch 2: promoting v2/,
    );
    expect(decision.storeDataLost).toBe("v1");
    // New readers read v0's vectors: the query Service encodes with v0 meanwhile.
    expect(decision.queryVersion).toBe("v0");
  });

  it("is told by one StoreDataLost Event, not as a rollback an operator made", () => {
    const decision = rewound(snapshotPointer);
    const previous = {
      activeVersion: "v1",
      storeEpoch: 2,
      versions: [
        { version: "v1", phase: "Active", readyReplicas: 1 },
        { version: "v2", phase: "Bootstrapping", readyReplicas: 1 },
        { version: "v0", phase: "Retained", readyReplicas: 0 },
      ],
      conditions: [{ type: "Reconciling", status: "True", reason: "Bootstrapping", message: "promoting v2" }],
    } as Parameters<typeof promotionEvents>[0];
    const events = promotionEvents(previous, decision);
    // Before: also RolledBack, "readers switched from v1 to v0 (store pointer rollback made by an
    // operator stopped before it reported it …)": no operator switched anything, the store lost data.
    expect(events.filter((event) => event.reason === "RolledBack" || event.reason === "Promoted")).toEqual(
      [],
    );
    expect(events.filter((event) => event.reason === "StoreDataLost")).toEqual([
      { warning: true, reason: "StoreDataLost", message: decision.verdict.message },
    ]);
  });

  // The user sets spec.version to v0, the version the rewound pointer names (abandoning v2, or
  // rolling back), while readers from before still hold v1's pointer at epoch 2 and ignore epoch 1.
  it("writes the pointer again above the recorded epoch when the spec names the rewound pointer's version", () => {
    const decision = decidePromotion(
      rewoundInputs(snapshotPointer, { specVersion: "v0", spec: specOf("v0"), candidate: {} }),
    );
    // Before: no switch (the spec's version is current), Ready Promoted, the gauge cleared, and readers
    // from before left on v1's pointer for good (its workers stopped after the bake, its vectors collected).
    expect(decision.switchPointer).toEqual({
      kind: "rollback",
      expectedCurrent: "v0",
      target: "v0",
      minEpoch: now.getTime(),
      rewound: { lost: "v1", current: "v0", epoch: 1, recorded: 2 },
    });
    expect(decision.storeEpoch).toBe(now.getTime());
    expect(decision.activeVersion).toBe("v0");
    const events = eventsFromRecordedStatus(decision);
    expect(events).toContainEqual({
      warning: false,
      reason: "RolledBack",
      message: expect.stringMatching(
        /^readers switched back to v0: the store's pointer, rewound below the epoch readers hold, was written again above it/,
      ),
    });
  });

  // As the controller runs it: the reconcile that first sees the rewind (spec still v2) writes its
  // status, which is what the next one (spec set to v0) reads as status.activeVersion and `previous`.
  it("names the lost version readers from before hold when the pointer is written again a reconcile later", () => {
    const seenInputs = rewoundInputs(snapshotPointer);
    const seen = decidePromotion(seenInputs);
    expect(seen.storeDataLost).toBe("v1");
    const seenStatus = promotionStatus({
      generation: 1,
      previous: { activeVersion: "v1", storeEpoch: 2 },
      decision: seen,
      specVersion: "v2",
      serving: seenInputs.serving,
      records: seen.records,
      endpoint: (version) => `http://minilm-${version}`,
      hasData: true,
      now,
    });
    const decision = decidePromotion(
      promoting({
        specVersion: "v0",
        spec: specOf("v0"),
        store: seenInputs.store,
        statusActive: seenStatus.activeVersion,
        statusStoreEpoch: seenStatus.storeEpoch,
        records: seen.records,
        serving: seenInputs.serving,
        candidate: {},
        writersPresent: ["v1", "v2"],
      }),
    );
    expectSwitchAboveNow(decision, "v0", "v0");
    const events = promotionEvents(seenStatus, decision);
    // Before: "(readers from before held v0's pointer; …)": the status the rewind was first seen in
    // already names v0 active, the version the restored pointer names, not the one readers hold.
    expect(events).toContainEqual({
      warning: false,
      reason: "RolledBack",
      message: expect.stringMatching(
        /^readers switched back to v0: the store's pointer, rewound below the epoch readers hold, was written again above it \(readers from before held v1's pointer; query Service on v0\)$/,
      ),
    });
  });

  // Not mid-promotion, and the snapshot (or a replica behind) was taken after v1's build completed but
  // before its cutover: v1 is still complete in the store, so readers are switched back to it at once.
  it("is told as a rewind, not as a pointer changed by hand, when the lost version is still complete", () => {
    const decision = decidePromotion(
      rewoundInputs(snapshotPointer, {
        specVersion: "v1",
        spec: specOf("v1"),
        store: store("v0", { v0: "complete", v1: "complete" }, snapshotPointer),
        records: [
          v0BeforeCutover(),
          record("v1", {
            promotionStartTime: ago(9500),
            activatedTime: ago(7000),
            workers: true,
            store: "jobs-store",
          }),
        ],
        serving: { v0: ready, v1: ready },
        candidate: {},
        writersPresent: ["v1"],
      }),
    );
    expectSwitchAboveNow(decision, "v0", "v1");
    const events = eventsFromRecordedStatus(decision);
    // Before: only PointerRestored, "… (changed outside the operator); readers switched back to v1":
    // a pointer below status.storeEpoch is a restore, and what v1's workers wrote since is gone.
    expect(events.map((event) => event.reason)).not.toContain("PointerRestored");
    expect(events).toContainEqual({
      warning: true,
      reason: "StoreDataLost",
      message: expect.stringMatching(
        /^the store was rewound .*: its pointer named version v0 at epoch 1, below epoch 2, the highest the operator wrote; version v1, the active one, is still complete in it: readers were switched back to it above epoch 2, but what was written to it since the snapshot is missing/,
      ),
    });
  });

  // A pointer below the recorded epoch that is no restore: a hand move in a store whose epoch lagged
  // status.storeEpoch (restored earlier on the very version readers use, or moved back to from
  // another store). Its flip time is after readers moved to v1, so it is a move, not lost data.
  it("is no loss when moved by hand below the recorded epoch after readers moved to v1", () => {
    const decision = rewound({ epoch: 1, flippedAtMs: now.getTime() - 1000 });
    expect(decision.storeDataLost).toBeUndefined();
    expect(decision.verdict.reason).not.toBe("StoreDataLost");
  });

  it("is no loss when the pointer was moved by hand (its epoch above the recorded one)", () => {
    const decision = rewound({ epoch: 3, flippedAtMs: now.getTime() - 1000 });
    expect(decision.verdict.reason).not.toBe("StoreDataLost");
    expect(decision.storeDataLost).toBeUndefined();
  });
});

describe("the pointer changed outside the operator while the spec stayed", () => {
  // v2 active since a minute ago, v1 draining; someone flips the pointer back to v1 by hand (or
  // deletes it). The resync puts v2 back: a restore, not a rollback anyone asked for.
  const atRest = (current: string | null) =>
    decidePromotion(
      promoting({
        store: store(current, { v1: "complete", v2: "complete" }, { backup: "v1" }),
        statusActive: "v2",
        // As the operator notes them: each was named by the store's pointer.
        records: [
          record("v1", {
            activatedTime: ago(7000),
            deactivatedTime: ago(60),
            workers: true,
            store: "jobs-store",
          }),
          record("v2", { activatedTime: ago(60), workers: true, store: "jobs-store" }),
        ],
      }),
    );

  it.each([
    ["flipped to the backup", "v1"],
    ["deleted", null],
  ] as const)("%s: switches back to v2 and says the pointer was restored, not rolled back", (_, current) => {
    const decision = atRest(current);
    expect(decision.switchPointer).toMatchObject({
      kind: "rollback",
      expectedCurrent: current,
      target: "v2",
      restores: true,
    });
    // Before: RolledBack True "rolled back to retained version v2" and a RolledBack Event.
    expect(condition(decision, "RolledBack")).toMatchObject({ status: "False", reason: "NotRolledBack" });
    const events = promotionEvents(undefined, decision).filter((event) => event.reason !== "Active");
    expect(events[0]).toMatchObject({ warning: true, reason: "PointerRestored" });
    expect(events[0]?.message).toContain("changed outside the operator");
    expect(events.map((event) => event.reason)).not.toContain("RolledBack");
    // And at rest afterwards: v2's record is as before the change, v1 left again at the switch.
    const after = decidePromotion(
      promoting({
        store: store("v2", { v1: "complete", v2: "complete" }, { backup: "v1" }),
        statusActive: "v2",
        records: decision.records,
      }),
    );
    expect(after.switchPointer).toBeUndefined();
    expect(condition(after, "RolledBack")).toMatchObject({ status: "False", reason: "NotRolledBack" });
    expect(after.records.find((entry) => entry.version === "v2")?.deactivatedTime).toBeUndefined();
    // v1 was live again while the pointer named it: it leaves now, its bake counted from here.
    expect(after.records.find((entry) => entry.version === "v1")?.deactivatedTime).toBe(
      current === "v1" ? ago(0) : ago(60),
    );
  });

  it("a rollback the spec asks for is still one", () => {
    const decision = decidePromotion(
      promoting({
        store: store("v2", { v1: "complete", v2: "complete" }, { backup: "v1" }),
        specVersion: "v1",
        spec: specOf("v1"),
        statusActive: "v2",
        records: [
          record("v1", { activatedTime: ago(7000), deactivatedTime: ago(60), workers: true }),
          record("v2", { activatedTime: ago(60), workers: true }),
        ],
      }),
    );
    expect(decision.switchPointer?.restores).toBeUndefined();
    expect(condition(decision, "RolledBack")).toMatchObject({ status: "True", reason: "RolledBack" });
    expect(promotionEvents(undefined, decision).map((event) => event.reason)).toContain("RolledBack");
  });
});

describe("bake, retention and garbage collection", () => {
  const steady = (records: ReturnType<typeof record>[], versions = {}, writersPresent = ["v3"]) =>
    decidePromotion(
      promoting({
        specVersion: "v3",
        spec: specOf("v3"),
        store: store("v3", { v3: "complete", ...versions }, { backup: "v2" }),
        records: [record("v3", { activatedTime: ago(4000), workers: true }), ...records],
        serving: { v3: ready, v2: ready },
        writersPresent,
      }),
    );

  it("keeps the previous version served with workers for bakeSeconds, then removes its workloads", () => {
    const baking = steady([
      record("v2", { activatedTime: ago(8000), deactivatedTime: ago(599), workers: true }),
    ]);
    expect(baking.phases.v2).toBe("Draining");
    expect(baking.serve.sort()).toEqual(["v2", "v3"]);
    expect(baking.workers.sort()).toEqual(["v2", "v3"]);
    expect(baking.requeueAfterMs).toBe(1000);
    const baked = steady([
      record("v2", { activatedTime: ago(8000), deactivatedTime: ago(601), workers: true }),
    ]);
    expect(baked.phases.v2).toBe("Retained");
    expect(baked.serve).toEqual(["v3"]);
    expect(baked.workers).toEqual(["v3"]);
    expect(baked.collect).toEqual([]);
  });

  it("collects vectors beyond retainVersions, never the backup, and then records the version as collected", () => {
    const records = [
      record("v2", { activatedTime: ago(8000), deactivatedTime: ago(4000) }),
      record("v1", { activatedTime: ago(9000), deactivatedTime: ago(8000) }),
    ];
    const collecting = steady(records, { v2: "complete", v1: "complete" });
    expect(collecting.phases).toEqual({ v3: "Active", v2: "Retained" });
    expect(collecting.collect).toEqual(["v1"]);
    const collected = steady(records, { v2: "complete" });
    expect(collected.collect).toEqual([]);
    expect(collected.records.find((entry) => entry.version === "v1")).toMatchObject({ collected: true });
    const none = decidePromotion({
      ...promoting(),
      specVersion: "v3",
      spec: specOf("v3"),
      policy: { ...policy, retainVersions: 0 },
      store: store("v3", { v3: "complete", v2: "complete" }, { backup: "v2" }),
      records: [record("v3", { activatedTime: ago(4000) }), records[0]!],
      serving: { v3: ready },
    });
    expect(none.collect).toEqual([]); // the backup is kept even with retainVersions 0
  });

  it("finishes a collection under way when retainVersions is raised meanwhile: not shown Retained", () => {
    const records = [
      record("v2", { activatedTime: ago(8000), deactivatedTime: ago(4000) }),
      record("v1", { activatedTime: ago(9000), deactivatedTime: ago(8000) }),
    ];
    const raised = decidePromotion({
      ...promoting(),
      specVersion: "v3",
      spec: specOf("v3"),
      policy: { ...policy, retainVersions: 3 },
      store: store("v3", { v3: "complete", v2: "complete", v1: "deleting" }, { backup: "v2" }),
      records: [record("v3", { activatedTime: ago(4000), workers: true }), ...records],
      serving: { v3: ready },
      writersPresent: ["v3"],
    });
    // Half of v1's buckets may be gone: it cannot serve a rollback as a retained version.
    expect(raised.phases).toEqual({ v3: "Active", v2: "Retained" });
    expect(raised.collect).toEqual(["v1"]);
    // The reconcile after the last step: gone from the store, so recorded as collected.
    const done = decidePromotion({
      ...promoting(),
      specVersion: "v3",
      spec: specOf("v3"),
      policy: { ...policy, retainVersions: 3 },
      store: store("v3", { v3: "complete", v2: "complete" }, { backup: "v2" }),
      records: [record("v3", { activatedTime: ago(4000), workers: true }), ...records],
      serving: { v3: ready },
      writersPresent: ["v3"],
    });
    expect(done.phases).toEqual({ v3: "Active", v2: "Retained" });
    expect(done.records.find((entry) => entry.version === "v1")).toMatchObject({ collected: true });
  });
});

describe("a model no pipeline names (serving only)", () => {
  it("switches the query Service once the new version is ready, with the data gates waived", () => {
    const servingOnly = promoting({ store: undefined, candidate: {} });
    const rollingOut = decidePromotion({ ...servingOnly, serving: { v1: ready, v2: rolling } });
    expect(rollingOut).toMatchObject({ queryVersion: "v1", activeVersion: "v1" });
    const switched = decidePromotion(servingOnly);
    expect(switched).toMatchObject({ queryVersion: "v2", activeVersion: "v2", collect: [], workers: [] });
    expect(switched.switchPointer).toBeUndefined();
    expect(condition(switched, "BootstrapComplete")).toMatchObject({ status: "True", reason: "NoPipelines" });
  });

  // A candidate whose build started in the store its pipelines name (fromBootstrap) keeps needing
  // that build when the pipelines go (deleted to be applied again, an Argo CD prune): switching the
  // query Service alone would give readers the candidate's encoder over the active version's vectors,
  // the pointer being on the active version still.
  it("does not switch to a candidate being bootstrapped when its pipelines are deleted", () => {
    const building = [
      record("v1", { activatedTime: ago(7000), workers: true }),
      record("v2", { promotionStartTime: ago(60), fromBootstrap: true, workers: true }),
    ];
    const pipelinesGone = decidePromotion(promoting({ store: undefined, records: building, candidate: {} }));
    expect(pipelinesGone).toMatchObject({ queryVersion: "v1", activeVersion: "v1", workers: [] });
    expect(pipelinesGone.phases.v2).toBe("Bootstrapping");
    expect(condition(pipelinesGone, "BootstrapComplete")).toMatchObject({
      status: "False",
      reason: "NoPipelines",
      message: expect.stringMatching(/no NearlinePipeline names this model/),
    });
    expect(pipelinesGone.records.find((entry) => entry.version === "v2")).toMatchObject({
      fromBootstrap: true,
    });
    expect(pipelinesGone.verdict).toMatchObject({ state: "Reconciling" });
    // The pipeline applied again: the build goes on where it was.
    const back = decidePromotion(
      promoting({ records: pipelinesGone.records, store: store("v1", { v1: "complete", v2: "building" }) }),
    );
    expect(back).toMatchObject({ queryVersion: "v1", bootstrap: "v2" });
  });

  // The pipelines deleted while the model is at rest (to be applied again, an Argo CD prune): readers
  // use the active version's vectors in the store, which nothing names now. A new version promoted
  // like a serving-only model moved the query Service to its encoder, the pointer staying on v1.
  it("notes the store the active version is in, and keeps it when the pipelines go", () => {
    const atRest = promoting({
      specVersion: "v1",
      spec: specOf("v1"),
      records: [record("v1", { activatedTime: ago(7000) })],
    });
    const noted = decidePromotion(atRest).records.find((entry) => entry.version === "v1");
    expect(noted).toMatchObject({ store: "jobs-store", workers: true });
    const gone = decidePromotion({ ...atRest, store: undefined, records: [noted!] });
    expect(gone).toMatchObject({ queryVersion: "v1", activeVersion: "v1" });
    expect(gone.records.find((entry) => entry.version === "v1")).toMatchObject({
      store: "jobs-store",
      workers: false,
    });
  });

  it.each([
    ["named", "jobs-store", /apply a NearlinePipeline of this model writing to store "jobs-store" again/],
    [
      "unnamed (an older operator's record)",
      "",
      /apply a NearlinePipeline of this model writing to that store again/,
    ],
  ])(
    "does not switch to a new version once the pipelines were deleted at rest: store %s",
    (_, storeName, hint) => {
      const v1InStore = [record("v1", { activatedTime: ago(7000), store: storeName })];
      const waiting = decidePromotion(promoting({ store: undefined, records: v1InStore, candidate: {} }));
      expect(waiting).toMatchObject({
        queryVersion: "v1",
        activeVersion: "v1",
        workers: [],
        bootstrap: undefined,
      });
      expect(waiting.switchPointer).toBeUndefined();
      expect(condition(waiting, "BootstrapComplete")).toMatchObject({
        status: "False",
        reason: "NoPipelines",
        message: expect.stringMatching(hint),
      });
      expect(condition(waiting, "BootstrapComplete")?.message).toMatch(/or set spec.version back to v1/);
      expect(waiting.verdict).toMatchObject({ state: "Reconciling", reason: "NoPipelines" });
      // Past the progress deadline it is Stalled, saying what to do.
      const overdue = decidePromotion(
        promoting({
          store: undefined,
          records: waiting.records,
          candidate: {},
          now: new Date(now.getTime() + 3_601_000),
        }),
      );
      expect(overdue.verdict).toMatchObject({
        state: "Stalled",
        reason: "PromotionDeadlineExceeded",
        message: expect.stringMatching(hint),
      });
      // The pipeline applied again: v2 is bootstrapped like any new version.
      const back = decidePromotion(
        promoting({ records: waiting.records, store: store("v1", { v1: "complete" }), candidate: {} }),
      );
      expect(back).toMatchObject({ queryVersion: "v1", bootstrap: "v2" });
    },
  );

  // A serving-only model given a pipeline, removed before its store's pointer named any version: readers
  // never had data there, so it stays a serving-only model (not held for a store it never used).
  it("stays serving-only when a pipeline came and went before any version was in its store", () => {
    const servingOnly = [record("v1", { activatedTime: ago(7000) })];
    const building = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store(null, { v1: "building" }),
        records: servingOnly,
        candidate: {},
      }),
    );
    expect(building.bootstrap).toBe("v1");
    // Each reconcile reads back the records the previous one wrote.
    const readBack = (records: VersionRecord[]) =>
      records.map((entry) => parseVersionRecord(desiredVersionRecord(exampleModel(), entry))!);
    const gone = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: undefined,
        records: readBack(building.records),
        candidate: {},
      }),
    );
    const v2 = decidePromotion(
      promoting({ store: undefined, records: readBack(gone.records), candidate: {} }),
    );
    expect(v2).toMatchObject({ queryVersion: "v2", activeVersion: "v2" });
  });

  // A rollback flips the pointer, which needs the store: with no pipeline naming it, switching the
  // query Service alone gave readers v1's encoder over v2's vectors.
  it("does not roll back the query Service alone once the pipelines were deleted at rest", () => {
    const v2Live = [
      record("v1", { activatedTime: ago(7000), deactivatedTime: ago(100), store: "jobs-store" }),
      record("v2", { promotionStartTime: ago(200), activatedTime: ago(100), store: "jobs-store" }),
    ];
    const back = decidePromotion(
      promoting({
        store: undefined,
        statusActive: "v2",
        specVersion: "v1",
        spec: specOf("v1"),
        records: v2Live,
        serving: { v1: ready, v2: ready },
        candidate: {},
      }),
    );
    expect(back).toMatchObject({ queryVersion: "v2", activeVersion: "v2" });
    expect(condition(back, "BootstrapComplete")).toMatchObject({ status: "False", reason: "NoPipelines" });
  });

  // The escape hatch works as for a model with data: the encoder being rolled back to is one readers
  // used until now, and a Git revert of spec.version alone leaves approvedVersion on the bad version.
  it("with cutover Manual rolls back to the version readers used before, without approval", () => {
    const manual = { ...policy, cutover: "Manual" as const, approvedVersion: "v2" };
    const v2Live = [
      record("v1", { promotionStartTime: ago(9000), activatedTime: ago(7000), deactivatedTime: ago(100) }),
      record("v2", { promotionStartTime: ago(200), activatedTime: ago(100) }),
    ];
    const back = decidePromotion(
      promoting({
        store: undefined,
        statusActive: "v2",
        specVersion: "v1",
        spec: specOf("v1"),
        policy: manual,
        records: v2Live,
        candidate: {},
      }),
    );
    expect(back).toMatchObject({ queryVersion: "v1", activeVersion: "v1" });
    expect(back.phases).toEqual({ v1: "Active", v2: "Draining" });
    // A version readers never used still waits for its approval.
    const fresh = decidePromotion(
      promoting({
        store: undefined,
        specVersion: "v3",
        spec: specOf("v3"),
        policy: manual,
        serving: { v1: ready, v3: ready },
        candidate: {},
      }),
    );
    expect(fresh).toMatchObject({ queryVersion: "v1", activeVersion: "v1" });
    expect(fresh.phases.v3).toBe("AwaitingCutover");
  });
});

describe("version phases", () => {
  // The CRD's enum is what `kubectl explain`, the dashboard and Argo CD's health script go by: a phase
  // listed there that no step of a promotion reaches sends a reader looking for a state that never comes.
  it("the CRD lists exactly the phases a promotion's steps reach", () => {
    const afterFlip = store("v2", { v1: "complete", v2: "complete" }, { backup: "v1" });
    const v2Live = [
      record("v1", { activatedTime: ago(7000), deactivatedTime: ago(100), workers: true }),
      record("v2", { activatedTime: ago(100), workers: true }),
    ];
    const steps = [
      promoting({ serving: { v1: ready, v2: rolling } }),
      promoting({ candidate: { bootstrap: undefined } }),
      promoting({ candidate: { ...passing, lag: { pipelines: 1, reporting: 1, records: 500 } } }),
      promoting({ policy: { ...policy, cutover: "Manual" } }),
      promoting({ serving: { v1: ready, v2: stuck } }),
      promoting(),
      promoting({ store: afterFlip, records: v2Live }),
      promoting({ store: afterFlip, records: v2Live, now: new Date(now.getTime() + 3_600_000) }),
    ];
    const reached = new Set(steps.flatMap((inputs) => Object.values(decidePromotion(inputs).phases)));
    expect([...reached].sort()).toEqual([...versionPhase.options].sort());
  });
});
describe("the active version with a pod stuck past the progress deadline", () => {
  const settled = (readyReplicas: number) =>
    decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store("v1", { v1: "complete" }),
        records: [record("v1", { activatedTime: ago(7000), workers: true })],
        serving: { v1: { ...stuck, readyReplicas, message: `${readyReplicas}/3 replicas ready` } },
      }),
    );
  it("stays Active while its other pods serve readers, Stalled saying which pod", () => {
    const decision = settled(2);
    expect(decision.phases).toMatchObject({ v1: "Active" });
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "ProgressDeadlineExceeded" });
  });
  it("is Failed when none of its pods serves", () => {
    expect(settled(0).phases).toMatchObject({ v1: "Failed" });
  });
  it("while v2 is promoted, v1 with two of three pods serving stays Active", () => {
    const decision = decidePromotion(
      promoting({ serving: { v1: { ...stuck, readyReplicas: 2 }, v2: { ...stuck, readyReplicas: 0 } } }),
    );
    expect(decision.phases).toMatchObject({ v1: "Active" });
  });
});
