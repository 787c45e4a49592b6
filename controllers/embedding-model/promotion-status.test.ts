import { describe, expect, it } from "vitest";
import { compareVectors } from "./parity.ts";
import {
  ago,
  now,
  passing,
  promoting,
  ready,
  record,
  rolling,
  specOf,
  store,
  succeeded,
} from "./promotion-fixtures.ts";
import { promotionEvents, promotionStatus } from "./promotion-status.ts";
import { decidePromotion } from "./promotion.ts";
import { notReconciledConditions } from "../shared/test-conditions.ts";

const endpoint = (version: string) => `m-${version}.ns.svc:50051`;

describe("status and events of a promotion", () => {
  it("gives an endpoint only to versions whose Service exists, not to a Retained one", () => {
    const inputs = promoting({
      specVersion: "v3",
      spec: specOf("v3"),
      store: store("v3", { v3: "complete", v2: "complete" }, { backup: "v2" }),
      records: [
        record("v3", { activatedTime: ago(4000), workers: true }),
        record("v2", { activatedTime: ago(8000), deactivatedTime: ago(601), workers: true }),
      ],
      serving: { v3: ready, v2: ready },
      writersPresent: ["v3"],
    });
    const decision = decidePromotion(inputs);
    expect(decision.serve).toEqual(["v3"]);
    const status = promotionStatus({
      generation: 3,
      previous: undefined,
      decision,
      specVersion: "v3",
      serving: inputs.serving,
      records: decision.records,
      endpoint,
      hasData: true,
      now,
    });
    expect(status.versions?.map((entry) => [entry.version, entry.phase, entry.endpoint])).toEqual([
      ["v3", "Active", endpoint("v3")],
      ["v2", "Retained", undefined],
    ]);
  });

  // status.storeEpoch keeps every later switch above the epoch readers hold: a status write must not
  // drop it (server-side apply removes what it omits) nor lower it (a store rewound to epoch 1).
  it("records the highest pointer epoch and never drops or lowers it", () => {
    const status = (storeEpoch: number | undefined, previousEpoch: number | undefined) => {
      const inputs = promoting({ store: store("v1", { v1: "complete", v2: "complete" }, { epoch: 1 }) });
      const decision = { ...decidePromotion(inputs), storeEpoch };
      return promotionStatus({
        generation: 2,
        previous: previousEpoch === undefined ? undefined : { storeEpoch: previousEpoch },
        decision,
        specVersion: "v2",
        serving: inputs.serving,
        records: decision.records,
        endpoint,
        hasData: true,
        now,
      }).storeEpoch;
    };
    expect(status(2, undefined)).toBe(2);
    expect(status(undefined, 5)).toBe(5);
    expect(status(2, 5)).toBe(5);
    expect(status(undefined, undefined)).toBeUndefined();
    // The flip's epoch (the pointer's 1 + 1) is what the decision records.
    expect(
      decidePromotion(promoting({ store: store("v1", { v1: "complete", v2: "complete" }, { epoch: 1 }) }))
        .storeEpoch,
    ).toBe(2);
  });

  it("lists each version with its phase, keeps transition times, and moves activeVersion with the flip", () => {
    const waitingInputs = promoting({ serving: { v1: ready, v2: rolling } });
    const waiting = decidePromotion(waitingInputs);
    const first = promotionStatus({
      generation: 2,
      previous: undefined,
      decision: waiting,
      specVersion: "v2",
      serving: waitingInputs.serving,
      records: waiting.records,
      endpoint,
      hasData: true,
      now,
    });
    expect(first.activeVersion).toBe("v1");
    expect(first.versions?.map((entry) => [entry.version, entry.phase])).toEqual([
      ["v1", "Active"],
      ["v2", "Deploying"],
    ]);
    expect(first.conditions?.find((entry) => entry.type === "Promoted")).toMatchObject({ status: "False" });
    const flipped = decidePromotion(promoting());
    const later = new Date(now.getTime() + 60_000);
    const second = promotionStatus({
      generation: 2,
      previous: first,
      decision: flipped,
      specVersion: "v2",
      serving: promoting().serving,
      records: flipped.records,
      endpoint,
      hasData: true,
      now: later,
    });
    expect(second.activeVersion).toBe("v2");
    expect(second.versions?.[0]).toMatchObject({
      version: "v2",
      phase: "Active",
      activatedTime: "2026-12-02T12:00:00Z",
    });
    const stalled = second.conditions?.find((entry) => entry.type === "Stalled");
    expect(stalled?.lastTransitionTime).toBe(
      first.conditions?.find((entry) => entry.type === "Stalled")?.lastTransitionTime,
    );
    expect(second.conditions?.find((entry) => entry.type === "Promoted")?.lastTransitionTime).toBe(
      "2026-12-02T12:01:00Z",
    );

    expect(promotionEvents(first, flipped).map((event) => event.reason)).toEqual([
      "Promoted",
      "Active",
      "Draining",
      "Ready",
    ]);
    // Phases already recorded raise no Event again.
    expect(promotionEvents(second, { ...flipped, switchPointer: undefined })).toEqual([]);
    // The first pointer of a store (rebuilt after a loss, or the model moved to it) is written by the
    // rollback script when the version was live before, but nobody rolled anything back.
    const rebuilt = { kind: "rollback" as const, expectedCurrent: null, target: "v2", minEpoch: 1 };
    const firstPointer = promotionEvents(second, { ...flipped, switchPointer: rebuilt })[0];
    expect(firstPointer).toMatchObject({
      reason: "Promoted",
      message: expect.stringContaining("from no version to v2"),
    });
    const back = { kind: "rollback" as const, expectedCurrent: "v1", target: "v2" };
    expect(promotionEvents(second, { ...flipped, switchPointer: back })[0]?.reason).toBe("RolledBack");
    // The operator that flipped was killed before its status write: the next one finds the pointer on
    // v2 and only follows it. The promotion still gets its Event.
    const followed = decidePromotion(promoting({ store: store("v2", { v1: "complete", v2: "complete" }) }));
    expect(followed.switchPointer).toBeUndefined();
    expect(promotionEvents(first, followed)[0]).toMatchObject({
      reason: "Promoted",
      message: expect.stringContaining("from v1 to v2"),
    });
    expect(promotionEvents(second, followed)).toEqual([]);
  });
});

// Walked on the testbed: a model no pipeline names switched its query Service to v2 (approved), then
// `kubectl jude rollback` took it back to v1, RolledBack=True; the Events had only the phase changes,
// no Promoted nor RolledBack, the reasons the README's Events table gives for readers switching.
describe("events of a model no pipeline names (serving only)", () => {
  const servingOnly = promoting({ store: undefined, candidate: {} });
  const previous = (active: string, phases: [string, string][]) =>
    ({
      activeVersion: active,
      versions: phases.map(([version, phase]) => ({ version, phase, readyReplicas: 1 })),
    }) as Parameters<typeof promotionEvents>[0];

  it("says Promoted when the query Service moves to the new version, once", () => {
    const switched = decidePromotion(servingOnly);
    const before = previous("v1", [
      ["v1", "Active"],
      ["v2", "AwaitingCutover"],
    ]);
    expect(promotionEvents(before, switched)[0]).toEqual({
      warning: false,
      reason: "Promoted",
      message:
        "readers switched from v1 to v2 (query Service moved; no store: no NearlinePipeline names this model)",
    });
    const after = previous("v2", [
      ["v2", "Active"],
      ["v1", "Draining"],
    ]);
    expect(promotionEvents(after, switched).map((event) => event.reason)).not.toContain("Promoted");
  });

  // A model with a store says Promoted for its first pointer ("from no version"); one without a store
  // said nothing when its first version went live.
  it("says Promoted when its first version goes live, once", () => {
    const first = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: undefined,
        statusActive: undefined,
        records: [record("v1", { promotionStartTime: ago(10) })],
        serving: { v1: ready },
        writersPresent: [],
        candidate: {},
      }),
    );
    expect(first.activeVersion).toBe("v1");
    const deploying = { versions: [{ version: "v1", phase: "Deploying", readyReplicas: 0 }] } as Parameters<
      typeof promotionEvents
    >[0];
    expect(promotionEvents(deploying, first).filter((event) => event.reason === "Promoted")).toEqual([
      {
        warning: false,
        reason: "Promoted",
        message:
          "readers switched from no version to v1 (query Service moved; no store: no NearlinePipeline names this model)",
      },
    ]);
    expect(
      promotionEvents(previous("v1", [["v1", "Active"]]), first).map((event) => event.reason),
    ).not.toContain("Promoted");
  });

  // Deleted with --cascade=orphan and applied again (README), a model adopts its records and finds
  // readers on the version they used: its first status names that version, but no reader switched.
  it("says no Promoted for the version a model applied again finds readers on", () => {
    const adopted = (storeOf: typeof store | undefined) =>
      decidePromotion(
        promoting({
          specVersion: "v1",
          spec: specOf("v1"),
          store: storeOf?.("v1", { v1: "complete" }),
          statusActive: undefined,
          records: [
            record("v1", {
              activatedTime: ago(7000),
              workers: storeOf !== undefined,
              ...(storeOf !== undefined ? { store: "jobs-store" } : {}),
            }),
          ],
          serving: { v1: ready },
          writersPresent: storeOf !== undefined ? ["v1"] : [],
          candidate: {},
        }),
      );
    for (const decision of [adopted(store), adopted(undefined)]) {
      expect(decision.activeVersion).toBe("v1");
      expect(decision.switchPointer).toBeUndefined();
      expect(promotionEvents(undefined, decision).map((event) => event.reason)).not.toContain("Promoted");
    }
    // Its first pointer flipped by an operator stopped before its status write: the status listed v1.
    const flipped = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store("v1", { v1: "complete" }),
        statusActive: undefined,
        records: [record("v1", { promotionStartTime: ago(600), workers: true, store: "jobs-store" })],
        serving: { v1: ready },
        writersPresent: ["v1"],
      }),
    );
    const awaiting = {
      versions: [{ version: "v1", phase: "AwaitingCutover", readyReplicas: 1 }],
    } as Parameters<typeof promotionEvents>[0];
    expect(promotionEvents(awaiting, flipped).filter((event) => event.reason === "Promoted")).toEqual([
      {
        warning: false,
        reason: "Promoted",
        message:
          "readers switched from no version to v1 (store pointer flip made by an operator stopped before it reported it; query Service moved)",
      },
    ]);
  });

  it("says RolledBack when it moves back to the draining version", () => {
    const back = decidePromotion({
      ...servingOnly,
      specVersion: "v1",
      spec: specOf("v1"),
      statusActive: "v2",
      records: [
        record("v2", { activatedTime: ago(60) }),
        record("v1", { activatedTime: ago(7000), deactivatedTime: ago(60) }),
      ],
    });
    expect(back.activeVersion).toBe("v1");
    const before = previous("v2", [
      ["v2", "Active"],
      ["v1", "Draining"],
    ]);
    expect(promotionEvents(before, back).filter((event) => event.reason === "RolledBack")).toEqual([
      {
        warning: false,
        reason: "RolledBack",
        message:
          "readers switched from v2 to v1 (query Service moved; no store: no NearlinePipeline names this model)",
      },
    ]);
  });
});

describe("gate conditions after a promotion ends", () => {
  const endpoint = (version: string) => `m-${version}.ns.svc:50051`;
  const statusOf = (
    inputs: ReturnType<typeof promoting>,
    previous: ReturnType<typeof promotionStatus> | undefined,
  ) => {
    const decision = decidePromotion(inputs);
    return promotionStatus({
      generation: 3,
      previous,
      decision,
      specVersion: inputs.specVersion,
      serving: inputs.serving,
      records: decision.records,
      endpoint,
      hasData: true,
      now,
    });
  };
  const types = (status: ReturnType<typeof promotionStatus>) =>
    (status.conditions ?? []).map((condition) => `${condition.type}=${condition.status}`).sort();
  const failedBootstrap = { ...succeeded, phase: "Failed" as const, message: "shard 0 failed" };

  it("drops the gates of a promotion given up by setting spec.version back to the active version", () => {
    const failing = statusOf(promoting({ candidate: { ...passing, bootstrap: failedBootstrap } }), undefined);
    expect(types(failing)).toContain("BootstrapComplete=False");
    const back = statusOf(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        records: [record("v1", { activatedTime: ago(7000), workers: true }), record("v2")],
      }),
      failing,
    );
    expect(types(back)).toEqual([
      "Promoted=True",
      "Ready=True",
      "Reconciling=False",
      "RolledBack=False",
      "ServingReady=True",
      "Stalled=False",
    ]);
  });

  it("keeps the gates the active version passed at its cutover", () => {
    const flipped = statusOf(promoting(), undefined);
    const settled = statusOf(
      promoting({
        store: store("v2", { v1: "complete", v2: "complete" }, { flippedAtMs: Date.parse(ago(30)) }),
        statusActive: "v2",
        records: [
          record("v1", { activatedTime: ago(7000), deactivatedTime: ago(30), workers: true }),
          record("v2", { promotionStartTime: ago(60), activatedTime: ago(30), workers: true }),
        ],
      }),
      flipped,
    );
    for (const gate of ["BootstrapComplete", "CaughtUp", "CoverageMet", "ParityPassed"])
      expect(types(settled), gate).toContain(`${gate}=True`);
  });
});

describe("parity comparison", () => {
  const unit = (values: number[]) => {
    const norm = Math.hypot(...values);
    return Float32Array.from(values.map((value) => value / norm));
  };
  const expected = { modelDigest: "sha256:b", dimensions: 3, normalized: true };
  const sample = (overrides = {}) => ({
    key: "job:1",
    stored: unit([1, 2, 3]),
    storedDigest: "sha256:b",
    recomputed: unit([1, 2, 3.0001]),
    serverDigest: "sha256:b",
    ...overrides,
  });

  it.each([
    ["the same vector", {}, 1, undefined],
    ["another model's vector", { recomputed: unit([3, 2, 1]) }, 0, "cosine"],
    [
      "a server running another model",
      { serverDigest: "sha256:a" },
      0,
      "the server answers with model sha256:a",
    ],
    [
      "a stored vector of another model",
      { storedDigest: "sha256:a" },
      0,
      "stored vector carries model sha256:a",
    ],
    ["other dimensions", { stored: unit([1, 2, 3, 4]) }, 0, "dimensions stored 4"],
    ["an unnormalised stored vector", { stored: Float32Array.from([1, 2, 3]) }, 0, "stored norm"],
  ])("%s -> %s matched", (_, overrides, matched, problem) => {
    const result = compareVectors([sample(overrides)], expected);
    expect(result.matched).toBe(matched);
    if (problem !== undefined) expect(result.firstMismatch).toContain(problem);
  });
});

describe("promotionEvents of a model Stalled before for another cause", () => {
  it("records the new cause's Warning (the model was not reconciled, then stalls on its own)", () => {
    const decision = {
      phases: {},
      records: [],
      verdict: { state: "Stalled", reason: "VersionRedefined", message: "version v1 was redefined" },
    } as unknown as Parameters<typeof promotionEvents>[1];
    const notReconciled = {
      conditions: notReconciledConditions(),
    } as Parameters<typeof promotionEvents>[0];
    expect(promotionEvents(notReconciled, decision)).toEqual([
      { warning: true, reason: "VersionRedefined", message: "version v1 was redefined" },
    ]);
    // Stalled so already: nothing again.
    const stalledSo = {
      conditions: notReconciled!.conditions!.map((condition) => ({
        ...condition,
        reason: "VersionRedefined",
      })),
    };
    expect(promotionEvents(stalledSo, decision)).toEqual([]);
  });
});
