import { describe, expect, it } from "vitest";
import { decidePromotion } from "../../../controllers/embedding-model/promotion.ts";
import {
  ago,
  passing,
  promoting,
  record,
  store,
  unreadyDeployment,
} from "../../../controllers/embedding-model/promotion-fixtures.ts";
import { servingState } from "../../../controllers/embedding-model/version-status.ts";
import { bootstrapOfV2, jobsPipeline, promotingModel } from "../fixtures.test-data.ts";
import { unattachedPipelines } from "../status-view.ts";
import { conditionVerdict, dashboardView, throughputKey, type WatchedObjects } from "./view-model.ts";

const now = new Date("2026-12-01T10:05:00Z");

function objects(overrides: Partial<WatchedObjects> = {}): WatchedObjects {
  return {
    models: [promotingModel()],
    pipelines: [jobsPipeline()],
    bootstrapRuns: [bootstrapOfV2()],
    events: [],
    ...overrides,
  };
}

describe("conditionVerdict", () => {
  it("reads Stalled=True as bad, Stalled=False as good, RolledBack as neutral, Unknown as pending", () => {
    expect(conditionVerdict("CoverageMet", "True")).toBe("good");
    expect(conditionVerdict("CoverageMet", "False")).toBe("bad");
    expect(conditionVerdict("Stalled", "True")).toBe("bad");
    expect(conditionVerdict("Stalled", "False")).toBe("good");
    expect(conditionVerdict("RolledBack", "True")).toBe("neutral");
    expect(conditionVerdict("Failed", "False")).toBe("good");
    expect(conditionVerdict("Promoted", "Unknown")).toBe("pending");
  });

  it("reads a gate that is False while it is waited for as pending, and a failed one as bad", () => {
    expect(conditionVerdict("BootstrapComplete", "False", "Bootstrapping")).toBe("pending");
    expect(conditionVerdict("CaughtUp", "False", "CatchingUp")).toBe("pending");
    expect(conditionVerdict("CoverageMet", "False", "CoverageBelowGate")).toBe("pending");
    expect(conditionVerdict("Promoted", "False", "AwaitingCutover")).toBe("pending");
    expect(conditionVerdict("BootstrapComplete", "False", "BootstrapFailed")).toBe("bad");
    expect(conditionVerdict("ParityPassed", "False", "ParityFailed")).toBe("bad");
    expect(conditionVerdict("ServingReady", "False", "ProgressDeadlineExceeded")).toBe("bad");
    expect(conditionVerdict("ServingReady", "False", "PodFailing")).toBe("bad");
    expect(conditionVerdict("Promoted", "False", "Failed")).toBe("bad");
    // A waiting reason of another condition does not count.
    expect(conditionVerdict("Ready", "False", "Bootstrapping")).toBe("bad");
  });

  it("agrees with the operator's own gate states for every promotion it decides", () => {
    const unschedulable = { pods: 1, firstPod: "minilm-v2-abc", message: "0/3 nodes are available" };
    const refused = { message: 'pods "minilm-v2-abc" is forbidden: exceeded quota: compute' };
    const cases = {
      // Gates after an unready ServingReady are not measured yet (reason Waiting).
      rollingOut: promoting({ serving: { v2: servingState(unreadyDeployment) } }),
      unschedulable: promoting({
        serving: { v2: servingState(unreadyDeployment, 0, undefined, unschedulable) },
      }),
      refused: promoting({ serving: { v2: servingState({ ...unreadyDeployment, refused }) } }),
      podFailing: promoting({
        serving: {
          v2: servingState(unreadyDeployment, 0, undefined, undefined, {
            pods: 1,
            firstPod: "minilm-v2-abc",
            container: "container serve",
            reason: "ImagePullBackOff",
            message: "Back-off pulling image",
          }),
        },
      }),
      deadline: promoting({
        serving: { v2: servingState({ ...unreadyDeployment, progressDeadlineExceeded: true }) },
      }),
      collecting: promoting({ store: store("v1", { v1: "complete", v2: "deleting" }), records: [] }),
      bootstrapping: promoting({
        candidate: { ...passing, bootstrap: { ...passing.bootstrap, phase: "Running", percent: 40 } },
      }),
      bootstrapFailed: promoting({
        candidate: { ...passing, bootstrap: { ...passing.bootstrap, phase: "Failed", message: "x" } },
      }),
      parityFailed: promoting({ candidate: { ...passing, parity: { sampled: 4, matched: 3 } } }),
      // The pipelines deleted mid-bootstrap: the build waits for one to name the model again.
      pipelinesGone: promoting({
        store: undefined,
        records: [
          record("v1", { activatedTime: ago(7000), workers: true }),
          record("v2", { promotionStartTime: ago(60), fromBootstrap: true, workers: true }),
        ],
        candidate: {},
      }),
    };
    const expected = { Open: "good", Shut: "pending", Failed: "bad" } as const;
    for (const [name, input] of Object.entries(cases)) {
      const decision = decidePromotion(input);
      expect(decision.gates.length, name).toBeGreaterThan(0);
      for (const gate of decision.gates)
        expect([
          name,
          gate.type,
          gate.reason,
          conditionVerdict(gate.type, gate.state === "Open" ? "True" : "False", gate.reason),
        ]).toEqual([name, gate.type, gate.reason, expected[gate.state]]);
      const promoted = decision.conditions.find((condition) => condition.type === "Promoted")!;
      expect([name, conditionVerdict("Promoted", promoted.status, promoted.reason)]).toEqual([
        name,
        decision.stalled ? "bad" : "pending",
      ]);
    }
  });
});

describe("dashboardView", () => {
  it("shows every promotion condition with its measured value, Unknown when not reported", () => {
    const [model] = dashboardView(objects(), { now }).models;
    expect(
      model!.conditions.map((condition) => [condition.type, condition.status, condition.message]),
    ).toEqual([
      ["ServingReady", "True", "2/2 replicas ready"],
      ["BootstrapComplete", "True", "12000 entities"],
      ["CaughtUp", "True", "lag 0.4 s <= 30 s"],
      ["CoverageMet", "False", "coverage 0.95 < 0.99"],
      ["ParityPassed", "Unknown", ""],
      ["Promoted", "Unknown", ""],
      ["RolledBack", "Unknown", ""],
      ["Stalled", "Unknown", ""],
    ]);
    expect(model!.versions.map((version) => `${version.version}:${version.phase}`)).toEqual([
      "minilm-v0:Retained",
      "minilm-v1:Active",
      "minilm-v2:CatchingUp",
    ]);
    expect(model!.promoting).toBe(true);
  });

  it("reads a condition whose True is bad news, False, as not that: `✓ not Stalled`, never `✓ Stalled`", () => {
    // The operator writes the kstatus trio with one verdict's reason and message on all three: beside
    // "Stalled" with a ✓, a False Stalled read as a stall confirmed, with the Ready message as its why.
    const kstatus = (state: "Ready" | "Stalled") =>
      ["Ready", "Reconciling", "Stalled"].map((type) => ({
        type,
        status: type === state ? "True" : "False",
        reason: state === "Ready" ? "Promoting" : "ModelDigestUnknown",
        message: state === "Ready" ? "version minilm-v2: gates 3/5" : "spec.model.sha256 is not set",
        lastTransitionTime: "2026-12-01T10:00:00Z",
      }));
    const withConditions = (conditions: ReturnType<typeof kstatus>) => {
      const model = promotingModel();
      model.status!.conditions = conditions as NonNullable<typeof model.status>["conditions"];
      return dashboardView(objects({ models: [model] }), { now }).models[0]!.conditions.find(
        (condition) => condition.type === "Stalled",
      );
    };
    expect(withConditions(kstatus("Ready"))).toMatchObject({
      status: "False",
      verdict: "good",
      label: "not Stalled",
      detail: "",
    });
    expect(withConditions(kstatus("Stalled"))).toMatchObject({
      status: "True",
      verdict: "bad",
      label: "Stalled",
      detail: "spec.model.sha256 is not set",
    });
    // A gate reads as itself, whatever its status; not reported is a dash.
    const [model] = dashboardView(objects(), { now }).models;
    expect(model!.conditions.map((condition) => [condition.label, condition.detail])).toEqual([
      ["ServingReady", "2/2 replicas ready"],
      ["BootstrapComplete", "12000 entities"],
      ["CaughtUp", "lag 0.4 s <= 30 s"],
      ["CoverageMet", "coverage 0.95 < 0.99"],
      ["ParityPassed", "–"],
      ["Promoted", "–"],
      ["RolledBack", "–"],
      ["Stalled", "–"],
    ]);
  });

  it("offers approve for a manual cutover in progress and, as the rollback, abandoning it for the recorded active version", () => {
    const record = {
      version: "minilm-v1",
      promotionStartTime: "2026-11-30T00:00:00Z",
      spec: {
        model: promotingModel().spec.model,
        prompts: { job: "Job: {{title}}" },
        serving: promotingModel().spec.serving,
      },
    };
    const [model] = dashboardView(
      objects({
        versionRecords: [
          { namespace: "recs", model: "minilm", record },
          { namespace: "recs", model: "other", record: { ...record, version: "minilm-v0" } },
        ],
      }),
      { now },
    ).models;
    expect(model!.actions).toEqual({
      approve: { version: "minilm-v2", summary: "approved cutover of minilm to minilm-v2" },
      rollback: {
        version: "minilm-v1",
        abandons: "minilm-v2",
        summary:
          "abandoning the promotion of minilm to minilm-v2: spec.version back to the active minilm-v1, with its recorded model, prompts and serving settings",
      },
    });
  });

  // The CLI refuses a plain `rollback` of a rollback in flight (run twice, it would undo it); the page's
  // button names what it does, "Abandon minilm-v2", behind a confirmation: it still offers it.
  it("offers abandoning a rollback in flight, naming the active version", () => {
    const spec = {
      model: promotingModel().spec.model,
      prompts: { job: "Job: {{title}}" },
      serving: promotingModel().spec.serving,
    };
    const records = [
      { version: "minilm-v1", promotionStartTime: "2026-11-30T00:00:00Z", spec },
      {
        version: "minilm-v2",
        promotionStartTime: "2026-11-20T00:00:00Z",
        activatedTime: "2026-11-21T00:00:00Z",
        spec,
      },
    ];
    const [model] = dashboardView(
      objects({ versionRecords: records.map((record) => ({ namespace: "recs", model: "minilm", record })) }),
      { now },
    ).models;
    expect(model!.actions.rollback).toMatchObject({ version: "minilm-v1", abandons: "minilm-v2" });
  });

  // The same warning as `kubectl jude approve`, shown in the confirmation (app.js).
  it("offers approve with a warning while the version readers use has no record", () => {
    const unrecorded = promotingModel();
    unrecorded.status!.versions = unrecorded.status!.versions!.filter(
      (entry) => entry.version === "minilm-v2",
    );
    const [model] = dashboardView(objects({ models: [unrecorded] }), { now }).models;
    expect(model!.actions.approve).toEqual({
      version: "minilm-v2",
      summary: "approved cutover of minilm to minilm-v2",
      warning:
        "minilm-v1, the version readers use, has no record in minilm (the model was deleted and applied again): once minilm-v2 is promoted, minilm cannot roll back to minilm-v1",
    });
  });

  it("refuses rollback, with the reason, while the operator kept no record of the version", () => {
    const [model] = dashboardView(objects(), { now }).models;
    expect(model!.actions.rollback).toMatchObject({
      refused: expect.stringMatching(/no record of minilm-v1's model, prompts and serving settings/),
    });
  });

  it("says the version records cannot be read, rather than that the operator kept none", () => {
    // A user who may patch EmbeddingModels but not list ConfigMaps: the record may well exist.
    const forbidden =
      'configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "recs"';
    const [model] = dashboardView(objects(), { now, versionRecordsProblem: forbidden }).models;
    expect(model!.actions.rollback).toEqual({
      refused: `cannot read the operator's version records (ConfigMaps), which a rollback restores: ${forbidden}`,
    });
    // Other refusals stay as they are.
    const first = promotingModel();
    first.status = { versions: [] };
    const [none] = dashboardView(objects({ models: [first] }), {
      now,
      versionRecordsProblem: forbidden,
    }).models;
    expect(none!.actions.rollback).toEqual({
      refused:
        "minilm has no active version yet (minilm-v2 is its first): nothing to roll back to or to abandon",
    });
  });

  it("refuses both actions up front, with the permission and role, in a namespace where the user may not patch models", () => {
    const denied = "access denied: viewer may not patch embeddingmodels.jude.dev in namespace recs (…)";
    const state = dashboardView(objects(), {
      now,
      actionsDenied: (namespace, name) => (namespace === "recs" && name === "minilm" ? denied : undefined),
    });
    expect(state.models[0]!.actions).toEqual({ approve: { refused: denied }, rollback: { refused: denied } });
    // Allowed, or not known (the review itself refused): the actions are decided as before.
    const [allowed] = dashboardView(objects(), { now, actionsDenied: () => undefined }).models;
    expect(allowed!.actions.approve).toEqual({
      version: "minilm-v2",
      summary: "approved cutover of minilm to minilm-v2",
    });
  });

  it("keeps the actions enabled but says so where whether the user may change the model could not be checked", () => {
    const note =
      "whether viewer may patch embeddingmodels.jude.dev in namespace recs could not be checked (…)";
    const [model] = dashboardView(objects(), { now, actionsUnchecked: () => note }).models;
    expect(model!.actions.approve).toEqual({
      version: "minilm-v2",
      summary: "approved cutover of minilm to minilm-v2",
    });
    expect(model!.permissionNote).toBe(note);
    expect(dashboardView(objects(), { now }).models[0]).not.toHaveProperty("permissionNote");
  });

  it("disables the actions, saying so, while whether the user may change the model is being checked", () => {
    const note = "whether viewer may patch embeddingmodels.jude.dev in namespace recs is being checked (…)";
    const [model] = dashboardView(objects(), { now, actionsChecking: () => note }).models;
    // The actions are what they will be once allowed; the page disables them meanwhile.
    expect(model!.actions.approve).toEqual({
      version: "minilm-v2",
      summary: "approved cutover of minilm to minilm-v2",
    });
    expect(model!.permissionChecking).toBe(note);
    expect(dashboardView(objects(), { now }).models[0]).not.toHaveProperty("permissionChecking");
    // A denial known already wins.
    const denied = "access denied: viewer may not patch embeddingmodels.jude.dev in namespace recs (…)";
    const [refused] = dashboardView(objects(), {
      now,
      actionsDenied: () => denied,
      actionsChecking: () => note,
    }).models;
    expect(refused).not.toHaveProperty("permissionChecking");
  });

  it("says why the timelines hold no Events when they cannot be read", () => {
    const problem = "access denied: viewer may not list events in namespace recs (…)";
    expect(dashboardView(objects(), { now, eventsProblem: problem }).eventsProblem).toBe(problem);
    expect(dashboardView(objects(), { now })).not.toHaveProperty("eventsProblem");
  });

  it("refuses approve once the version is approved, with the reason shown on the button", () => {
    const approved = promotingModel();
    approved.spec.promotion = { ...approved.spec.promotion!, approvedVersion: "minilm-v2" };
    const [model] = dashboardView(objects({ models: [approved] }), { now }).models;
    expect(model!.actions.approve).toEqual({ refused: "minilm-v2 is already approved" });
  });

  it("adds pipeline throughput and bootstrap dedup counts to the status figures", () => {
    const run = bootstrapOfV2();
    run.status!.progress = { ...run.status!.progress, embedded: 3000, deduplicated: 2040 };
    const [model] = dashboardView(objects({ bootstrapRuns: [run] }), {
      now,
      throughput: (key) => (key === throughputKey("recs", "jobs", "minilm-v1") ? 120.5 : undefined),
    }).models;
    expect(model!.pipelines[0]!.versions).toEqual([
      {
        version: "minilm-v1",
        lag: 0,
        embedded: 9000,
        skippedUnchanged: 3000,
        deadLettered: 2,
        throughput: 120.5,
      },
      { version: "minilm-v2", lag: 12, embedded: 400 },
    ]);
    expect(model!.bootstraps[0]).toMatchObject({ percent: 42, embedded: 3000, deduplicated: 2040 });
  });

  it("builds the timeline from condition transitions and the events of the model's objects", () => {
    const event = (name: string, kind: string, objectName: string, time: string) => ({
      metadata: { name, namespace: "recs" },
      involvedObject: { kind, name: objectName, namespace: "recs", apiVersion: "jude.dev/v1alpha1" },
      type: "Normal",
      reason: "CutoverApproved",
      message: "waiting for gates",
      count: 3,
      lastTimestamp: time,
    });
    const state = dashboardView(
      objects({
        events: [
          event("e1", "EmbeddingModel", "minilm", "2026-12-01T10:02:00Z"),
          event("e2", "EmbeddingModel", "other-model", "2026-12-01T10:03:00Z"),
        ],
      }),
      { now, namespace: "recs" },
    );
    const timeline = state.models[0]!.timeline;
    expect(timeline[0]).toEqual({
      time: "2026-12-01T10:02:00Z",
      source: "event",
      object: "EmbeddingModel/minilm",
      title: "CutoverApproved",
      status: "Normal",
      message: "waiting for gates",
      count: 3,
      verdict: "neutral",
    });
    expect(timeline.find((entry) => entry.title === "CoverageMet")?.verdict).toBe("pending");
    // The other model's event is not on this model's timeline; the conditions (5 on the model, 1 on
    // the pipeline) follow the newer event.
    expect(timeline).toHaveLength(7);
    expect(timeline.slice(1).every((entry) => entry.source === "condition")).toBe(true);
    expect(state).toMatchObject({ namespace: "recs", generatedAt: "2026-12-01T10:05:00.000Z" });
  });

  it("says why a pipeline is not Ready: a Stalled one reports no figures, only its message", () => {
    const stalled = jobsPipeline();
    stalled.status = {
      conditions: [
        { type: "Ready", status: "False", reason: "StoreConflict", message: "store recs belongs to bge" },
        { type: "Stalled", status: "True", reason: "StoreConflict", message: "store recs belongs to bge" },
      ],
    } as typeof stalled.status;
    const [model] = dashboardView(objects({ pipelines: [stalled] }), { now }).models;
    expect(model!.pipelines).toEqual([
      { name: "jobs", entity: "job", ready: "False", message: "store recs belongs to bge", versions: [] },
    ]);
    const [ready] = dashboardView(objects(), { now }).models;
    expect(ready!.pipelines[0]).not.toHaveProperty("message");
  });

  it("lists the pipelines that name no existing model, as `kubectl jude status` does", () => {
    // A typo in spec.modelRef.name: the pipeline is Stalled, under no model's card.
    const message = "spec.modelRef.name: EmbeddingModel minlm does not exist in namespace recs";
    const orphan = jobsPipeline();
    orphan.metadata.name = "jobs-typo";
    orphan.spec.modelRef.name = "minlm";
    orphan.status = {
      conditions: [
        { type: "Ready", status: "False", reason: "ModelNotFound", message },
        { type: "Stalled", status: "True", reason: "ModelNotFound", message },
      ],
    } as typeof orphan.status;
    const watched = objects({ pipelines: [jobsPipeline(), orphan] });
    const state = dashboardView(watched, { now });
    expect(state.models.map((model) => model.pipelines.map((pipeline) => pipeline.name))).toEqual([["jobs"]]);
    expect(state.unattachedPipelines).toEqual(unattachedPipelines(watched));
    expect(state.unattachedPipelines).toEqual([
      {
        namespace: "recs",
        modelRef: "minlm",
        name: "jobs-typo",
        entity: "job",
        ready: "False",
        message,
        versions: [],
      },
    ]);
    // With no model at all, every pipeline is listed; with none unattached, an empty list.
    expect(dashboardView(objects({ models: [] }), { now }).unattachedPipelines.map((p) => p.name)).toEqual([
      "jobs",
    ]);
    expect(dashboardView(objects(), { now }).unattachedPipelines).toEqual([]);
  });

  it("lists models sorted by namespace and name, each with only its own pipelines", () => {
    const other = promotingModel();
    other.metadata = { ...other.metadata, name: "bge", namespace: "recs" };
    const names = dashboardView(objects({ models: [promotingModel(), other] }), { now }).models.map(
      (model) => [model.name, model.pipelines.length],
    );
    expect(names).toEqual([
      ["bge", 0],
      ["minilm", 1],
    ]);
  });
});
