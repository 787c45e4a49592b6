// A candidate whose BootstrapRun succeeded, and whose build the store then lost (its Redis restarted
// without persistence or was flushed while the candidate waited for its gates or for approval): the
// run says Succeeded, the registry has no such version. The run's success says nothing about the
// vectors in the store any more, so the version is built again by a new run, as a lost active
// version is, instead of waiting for the store to mark complete a version it no longer has.
import { describe, expect, it } from "vitest";
import { conditionTime } from "../shared/conditions.ts";
import { mayBootstrap, decidePromotion, type PromotionDecision, type PromotionInputs } from "./promotion.ts";
import { exampleModel } from "./test-models.ts";
import { buildStart, desiredVersionRecord, parseVersionRecord } from "./version-record.ts";
import { ago, now, passing, promoting, ready, record, specOf, store } from "./promotion-fixtures.ts";

const condition = (decision: PromotionDecision, type: string) =>
  decision.conditions.find((entry) => entry.type === type);

function decide(input: PromotionInputs): PromotionDecision {
  const decision = decidePromotion(input);
  if (decision.bootstrap !== undefined) expect(mayBootstrap(input)).toBe(true);
  return decision;
}

describe("a candidate whose run succeeded and whose build the store lost", () => {
  it("is bootstrapped again by a new run while the version readers used keeps serving", () => {
    // v2 waited for approval (cutover Manual) with every gate passed; then the store lost everything.
    const decision = decide(
      promoting({
        policy: { ...promoting().policy, cutover: "Manual" },
        store: store(null, {}),
        records: [
          record("v1", { activatedTime: ago(7000), workers: true, store: "jobs-store" }),
          record("v2", { promotionStartTime: ago(600), workers: true, fromBootstrap: true }),
        ],
        candidate: passing,
      }),
    );
    expect(decision.switchPointer).toBeUndefined();
    expect(decision.queryVersion).toBe("v1");
    expect(decision.bootstrap).toBe("v2");
    // A new build: the succeeded run's snapshot was captured before it started, so the run is an
    // earlier build's (deleted with its checkpoints) and the next one is created. The promotion's
    // deadline still counts from the promotion's start.
    const v2 = decision.records.find((entry) => entry.version === "v2");
    expect(v2?.buildStartTime).toBe(conditionTime(now));
    expect(v2?.promotionStartTime).toBe(ago(600));
    expect(condition(decision, "BootstrapComplete")).toMatchObject({
      status: "False",
      reason: "StoreLostBuild",
    });
    expect(condition(decision, "BootstrapComplete")?.message).toMatch(
      /BootstrapRun jobs-v2 succeeded, but the store no longer has version v2 .*bootstrapped again/,
    );
    expect(decision.phases["v2"]).toBe("Bootstrapping");
    expect(decision.stalled).toBe(false);
  });

  it("is bootstrapped again when it is the first version of the store", () => {
    const decision = decide(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store(null, {}),
        statusActive: undefined,
        records: [record("v1", { promotionStartTime: ago(600), workers: true, fromBootstrap: true })],
        serving: { v1: promoting().serving["v1"]! },
        candidate: { ...passing, bootstrap: { ...passing.bootstrap, name: "jobs-v1" } },
        writersPresent: ["v1"],
      }),
    );
    expect(decision.switchPointer).toBeUndefined();
    expect(decision.bootstrap).toBe("v1");
    expect(decision.records.find((entry) => entry.version === "v1")?.buildStartTime).toBe(conditionTime(now));
    expect(condition(decision, "BootstrapComplete")).toMatchObject({ reason: "StoreLostBuild" });
  });

  // A run of files captures no snapshot time: a new build could not tell it for an earlier one's, and
  // would adopt it again at every reconcile (starting a new build at each).
  it("says to delete a run whose snapshot time is unknown, and keeps its promotion's clock", () => {
    const decision = decide(
      promoting({
        store: store(null, {}),
        records: [
          record("v1", { activatedTime: ago(7000), workers: true, store: "jobs-store" }),
          record("v2", { promotionStartTime: ago(600), workers: true, fromBootstrap: true }),
        ],
        candidate: { ...passing, bootstrap: { ...passing.bootstrap, snapshotTimed: false } },
      }),
    );
    const v2 = decision.records.find((entry) => entry.version === "v2");
    expect(v2?.promotionStartTime).toBe(ago(600));
    expect(v2?.buildStartTime).toBeUndefined();
    expect(condition(decision, "BootstrapComplete")).toMatchObject({ reason: "StoreLostBuild" });
    expect(condition(decision, "BootstrapComplete")?.message).toMatch(
      /delete the BootstrapRun to bootstrap version v2 again/,
    );
  });

  // A run is Succeeded only once its Job completed, and its last shard marks the version complete
  // before it exits (pipelines/bootstrap/shard.ts): a succeeded run beside a `building` entry means
  // the entry was registered again after the build was lost. Any of the version's writers does that
  // when it starts (a nearline worker restarted or rescheduled after the Redis restart, or the first
  // workers in a store the pipelines moved to), often before the operator's next look at the store.
  it("is bootstrapped again when a writer registered the version again after the loss (building)", () => {
    const decision = decide(
      promoting({
        policy: { ...promoting().policy, cutover: "Manual" },
        store: store(null, { v2: "building" }),
        records: [
          record("v1", { activatedTime: ago(7000), workers: true, store: "jobs-store" }),
          record("v2", { promotionStartTime: ago(600), workers: true, fromBootstrap: true }),
        ],
        candidate: passing,
      }),
    );
    expect(decision.bootstrap).toBe("v2");
    expect(decision.records.find((entry) => entry.version === "v2")?.buildStartTime).toBe(conditionTime(now));
    expect(condition(decision, "BootstrapComplete")).toMatchObject({
      status: "False",
      reason: "StoreLostBuild",
    });
    expect(condition(decision, "BootstrapComplete")?.message).toMatch(
      /BootstrapRun jobs-v2 succeeded, but the store lost its build of version v2 .*bootstrapped again/,
    );
    expect(decision.phases["v2"]).toBe("Bootstrapping");
  });

  // A store that keeps losing its data (a Redis without persistence restarting in a loop) must not
  // keep the promotion Reconciling for ever: each loss starts a new build, never a new deadline.
  it("keeps the promotion's deadline from its start however often the store loses the build", () => {
    let records = [
      record("v1", { activatedTime: ago(7000), workers: true, store: "jobs-store" }),
      record("v2", { promotionStartTime: ago(3900), workers: true, fromBootstrap: true }),
    ];
    // The store loses v2's build three times, 300 s apart: the promotion passes its 3600 s deadline.
    for (const lossAt of [2, 1, 0]) {
      const at = new Date(now.getTime() - lossAt * 300_000);
      const decision = decide(promoting({ now: at, store: store(null, {}), records, candidate: passing }));
      expect(condition(decision, "BootstrapComplete")).toMatchObject({ reason: "StoreLostBuild" });
      expect(decision.bootstrap).toBe("v2");
      // Each reconcile reads the records back from their ConfigMaps.
      records = decision.records.map((entry) =>
        parseVersionRecord(desiredVersionRecord(exampleModel(), entry))!,
      );
      expect(records.find((entry) => entry.version === "v2")?.buildStartTime).toBe(conditionTime(at));
    }
    const decision = decidePromotion(promoting({ store: store(null, {}), records }));
    expect(records.find((entry) => entry.version === "v2")?.promotionStartTime).toBe(ago(3900));
    expect(decision.phases["v2"]).toBe("Failed");
    expect(decision.verdict).toMatchObject({ state: "Stalled", reason: "PromotionDeadlineExceeded" });
    expect(decision.bootstrap).toBe("v2");
    // The rebuild goes on past the deadline: once its run succeeded and the store marks v2 complete,
    // every gate passes and readers switch to it (the verdict stays only until then).
    const rebuilt = decidePromotion(
      promoting({
        store: store(null, { v2: "complete" }),
        records,
        candidate: { ...passing, bootstrap: { ...passing.bootstrap, name: "jobs-v2-rebuilt" } },
      }),
    );
    expect(rebuilt.switchPointer).toMatchObject({ target: "v2", expectedCurrent: null });
    expect(rebuilt.verdict.state).not.toBe("Stalled");
    expect(rebuilt.phases["v2"]).toBe("Active");
  });

  // The deadline measures the time to reach the approval wait. A build the store loses after a long
  // wait for approval is not the promotion's slowness: the rebuild gets a window of its own, once;
  // a second loss before the gates pass again counts in that window.
  it("gives a rebuild after a long approval wait a new deadline window, once", () => {
    const manual = { ...promoting().policy, cutover: "Manual" as const };
    let records = [
      record("v1", { activatedTime: ago(90_000), workers: true, store: "jobs-store" }),
      record("v2", { promotionStartTime: ago(86_400), workers: true, fromBootstrap: true }),
    ];
    const reread = (decision: PromotionDecision) =>
      decision.records.map((entry) => parseVersionRecord(desiredVersionRecord(exampleModel(), entry))!);
    const v2Of = (list: typeof records) => list.find((entry) => entry.version === "v2");
    // Every gate passed 20 hours ago, four hours into the promotion (past its 3600 s deadline, which
    // does not apply to the wait for approval): the version awaits approval since then.
    const waiting = decide(
      promoting({
        now: new Date(now.getTime() - 72_000_000),
        policy: manual,
        store: store("v1", { v1: "complete", v2: "complete" }),
        records,
        candidate: passing,
      }),
    );
    expect(waiting.verdict).toMatchObject({ state: "Reconciling", reason: "AwaitingApproval" });
    records = reread(waiting);
    const waitedFrom = v2Of(records)?.awaitingApprovalTime;
    expect(waitedFrom).toBe(conditionTime(new Date(now.getTime() - 72_000_000)));
    // Still waiting later: the wait's start is kept.
    records = reread(
      decide(
        promoting({
          policy: manual,
          store: store("v1", { v1: "complete", v2: "complete" }),
          records,
          candidate: passing,
        }),
      ),
    );
    expect(v2Of(records)?.awaitingApprovalTime).toBe(waitedFrom);
    // The store loses v2's build while the approval is still awaited, 24 hours after the promotion
    // started (deadline 3600 s): a rebuild with a window of its own, not Failed.
    const lost = decide(
      promoting({ policy: manual, store: store("v1", { v1: "complete" }), records, candidate: passing }),
    );
    expect(condition(lost, "BootstrapComplete")).toMatchObject({ reason: "StoreLostBuild" });
    expect(lost.bootstrap).toBe("v2");
    expect(lost.phases["v2"]).toBe("Bootstrapping");
    expect(lost.verdict.state).toBe("Reconciling");
    records = reread(lost);
    expect(v2Of(records)).toMatchObject({
      deadlineStartTime: conditionTime(now),
      promotionStartTime: ago(86_400),
    });
    expect(v2Of(records)?.awaitingApprovalTime).toBeUndefined();
    // The rebuild's run fails to finish within that window: Stalled, as any promotion past its deadline.
    const later = new Date(now.getTime() + 3_700_000);
    const overdue = decide(
      promoting({
        now: later,
        policy: manual,
        store: store("v1", { v1: "complete", v2: "building" }),
        records,
        candidate: {
          ...passing,
          bootstrap: { ...passing.bootstrap, name: "jobs-v2-rebuilt", phase: "Running", percent: 40 },
        },
      }),
    );
    expect(overdue.phases["v2"]).toBe("Failed");
    expect(overdue.verdict).toMatchObject({ state: "Stalled", reason: "PromotionDeadlineExceeded" });
    expect(overdue.verdict.message).toMatch(
      /^version v2 is not promoted 3600s after a gate shut while it awaited approval: BootstrapComplete: /,
    );
  });

  // The wait and the window belong to the promotion: once approved and switched, the record of the
  // version readers use says nothing of a wait that is over.
  it("drops the approval wait and the deadline window when the approved version goes live", () => {
    const manual = { ...promoting().policy, cutover: "Manual" as const };
    const approved = decide(
      promoting({
        policy: { ...manual, approvedVersion: "v2" },
        store: store("v1", { v1: "complete", v2: "complete" }),
        records: [
          record("v1", { activatedTime: ago(90_000), workers: true, store: "jobs-store" }),
          record("v2", {
            promotionStartTime: ago(86_400),
            awaitingApprovalTime: ago(3_600),
            deadlineStartTime: ago(7_000),
            workers: true,
            fromBootstrap: true,
          }),
        ],
        candidate: passing,
      }),
    );
    expect(approved.switchPointer).toMatchObject({ target: "v2" });
    const v2 = parseVersionRecord(
      desiredVersionRecord(
        exampleModel(),
        approved.records.find((entry) => entry.version === "v2")!,
      ),
    );
    expect(v2?.activatedTime).toBe(conditionTime(now));
    expect(v2?.awaitingApprovalTime).toBeUndefined();
    expect(v2?.deadlineStartTime).toBeUndefined();
  });

  // The rebuild's start belongs to that attempt: a later promotion of the version (a rollback beyond
  // retention) starts a new one, whose runs are told apart from the version's start alone.
  it("drops the rebuild's start when the version, once live, is promoted again", () => {
    const decision = decide(
      promoting({
        store: store("v3", { v3: "complete" }),
        statusActive: "v3",
        serving: { v3: ready, v2: ready },
        records: [
          record("v3", { activatedTime: ago(4000), workers: true, store: "jobs-store" }),
          record("v2", {
            promotionStartTime: ago(9000),
            buildStartTime: ago(8500),
            activatedTime: ago(8000),
            deactivatedTime: ago(5000),
            collected: true,
            store: "jobs-store",
          }),
        ],
        candidate: { bootstrap: undefined },
      }),
    );
    expect(decision.bootstrap).toBe("v2");
    const v2 = decision.records.find((entry) => entry.version === "v2");
    expect(v2?.promotionStartTime).toBe(conditionTime(now));
    expect(v2?.buildStartTime).toBeUndefined();
    expect(buildStart(v2)).toBe(conditionTime(now));
  });

  it("is not rebuilt over a state a newer release wrote (not known: neither complete nor lost)", () => {
    const decision = decide(promoting({ store: store("v1", { v1: "complete", v2: "archived" }) }));
    expect(condition(decision, "BootstrapComplete")).toMatchObject({ reason: "VersionNotComplete" });
    expect(decision.records.find((entry) => entry.version === "v2")?.promotionStartTime).toBe(ago(60));
  });

  it("is not rebuilt while its run still runs (building: the last shard marks it complete)", () => {
    const running = { ...passing.bootstrap, phase: "Running" as const, percent: 80 };
    const decision = decide(
      promoting({
        store: store("v1", { v1: "complete", v2: "building" }),
        candidate: { ...passing, bootstrap: running },
      }),
    );
    expect(condition(decision, "BootstrapComplete")).toMatchObject({ reason: "Bootstrapping" });
    expect(decision.records.find((entry) => entry.version === "v2")?.promotionStartTime).toBe(ago(60));
  });
});
