import { describe, expect, it } from "vitest";
import { decidePromotion } from "./promotion.ts";
import { exampleModel } from "./test-models.ts";
import { desiredVersionRecord, parseVersionRecord, type VersionRecord } from "./version-record.ts";
import { ago, passing, policy, promoting, ready, record, specOf, store } from "./promotion-fixtures.ts";

describe("a model whose pipelines moved to another store", () => {
  it("mid-promotion: status names the version readers still use as active", () => {
    const decision = decidePromotion(
      promoting({
        specVersion: "v3",
        spec: specOf("v3"),
        store: store(null, { v3: "building" }, { name: "store-b" }),
        statusActive: "v2",
        records: [
          record("v1", { activatedTime: ago(9000), deactivatedTime: ago(7000), store: "store-a" }),
          record("v2", { activatedTime: ago(7000), workers: true, store: "store-a" }),
          record("v3", { promotionStartTime: ago(60), fromBootstrap: true }),
        ],
      }),
    );
    expect(decision.queryVersion).toBe("v2");
    expect(decision.activeVersion).toBe("v2");
    expect(decision.phases.v2).toBe("Active");
  });

  it("moved back to a store whose pointer names an older version", () => {
    const decision = decidePromotion(
      promoting({
        specVersion: "v3",
        spec: specOf("v3"),
        store: store(
          "v2",
          { v1: "complete", v2: "complete" },
          { name: "store-a", backup: "v1", flippedAtMs: Date.parse(ago(7000)) },
        ),
        statusActive: "v3",
        serving: { v2: ready, v3: ready },
        records: [
          record("v2", { activatedTime: ago(7000), deactivatedTime: ago(3000), store: "store-a" }),
          record("v3", {
            promotionStartTime: ago(4000),
            activatedTime: ago(3000),
            workers: true,
            store: "store-b",
          }),
        ],
      }),
    );
    // Readers stay on v3 (in store-b): the pointer of store-a is neither followed nor collected from.
    expect(decision.queryVersion).toBe("v3");
    expect(decision.activeVersion).toBe("v3");
    expect(decision.switchPointer).toBeUndefined();
    expect(decision.bootstrap).toBe("v3");
    expect(decision.verdict).toMatchObject({ reason: "StoreChanged" });
    expect(decision.verdict.message).toContain("store store-a, which still names version v2");
    expect(decision.records.find((entry) => entry.version === "v3")).toMatchObject({ store: "store-b" });

    // Built into store-a: the flip replaces the pointer it found there.
    const built = decidePromotion(
      promoting({
        specVersion: "v3",
        spec: specOf("v3"),
        store: store(
          "v2",
          { v1: "complete", v2: "complete", v3: "complete" },
          { name: "store-a", backup: "v1", flippedAtMs: Date.parse(ago(7000)) },
        ),
        statusActive: "v3",
        serving: { v2: ready, v3: ready },
        records: decision.records,
      }),
    );
    expect(built.switchPointer).toMatchObject({ target: "v3", expectedCurrent: "v2" });
  });
});

// v3's run filled store-a and succeeded; then the pipelines moved to store-b, which has no v3. Nothing
// was lost: the condition says the store now named has no build of v3, not that a store lost its data.
/** v3 promoted while v2 is live, the pipelines naming store-b, v3's run (jobs-v3) succeeded. */
const decideV3 = (records: VersionRecord[], versions: Record<string, string> = {}) =>
  decidePromotion(
    promoting({
      specVersion: "v3",
      spec: specOf("v3"),
      store: store(null, versions, { name: "store-b" }),
      statusActive: "v2",
      serving: { v2: ready, v3: ready },
      records,
      candidate: { ...passing, bootstrap: { ...passing.bootstrap, name: "jobs-v3" } },
    }),
  );

describe("a candidate whose run succeeded before the pipelines moved to another store", () => {
  const moved = (versions: Record<string, string>) =>
    decideV3(
      [
        record("v2", { activatedTime: ago(7000), workers: true, store: "store-a" }),
        record("v3", { promotionStartTime: ago(600), workers: true, fromBootstrap: true }),
      ],
      versions,
    );
  const bootstrapComplete = (decision: ReturnType<typeof decidePromotion>) =>
    decision.conditions.find((entry) => entry.type === "BootstrapComplete");

  it("says the store the pipelines now name has no build of the version", () => {
    const decision = moved({});
    expect(bootstrapComplete(decision)).toMatchObject({ reason: "StoreLostBuild" });
    const message = bootstrapComplete(decision)?.message ?? "";
    expect(message).toMatch(
      /^BootstrapRun jobs-v3 succeeded, but store store-b, which the pipelines now write to instead of store store-a, has no build of version v3: version v3 is bootstrapped again by a new BootstrapRun$/,
    );
    expect(message).not.toMatch(/lost|removed/);
    expect(decision.bootstrap).toBe("v3");
  });

  it("says so when the version's workers already registered it in the new store (building)", () => {
    const message = bootstrapComplete(moved({ v3: "building" }))?.message ?? "";
    expect(message).toMatch(
      /^BootstrapRun jobs-v3 succeeded, but store store-b, which the pipelines now write to instead of store store-a, has no complete build of version v3 \(its writers there registered it, building\): version v3 is bootstrapped again by a new BootstrapRun$/,
    );
    expect(message).not.toMatch(/lost|removed/);
  });
});

// The version record notes the store its build fills (buildStore): what the pipelines named when the
// decision last asked for its run. It tells a build left behind by a move from one the store lost.
describe("a candidate's lost build, told by the store its build was asked for in", () => {
  const decide = decideV3;
  const message = (decision: ReturnType<typeof decidePromotion>) =>
    decision.conditions.find((entry) => entry.type === "BootstrapComplete")?.message ?? "";

  // The first version of a model: none was live, so no record says readers used another store.
  it("names the move for a first version whose run filled the store the pipelines left", () => {
    const decision = decidePromotion(
      promoting({
        specVersion: "v1",
        spec: specOf("v1"),
        store: store(null, {}, { name: "store-b" }),
        statusActive: undefined,
        serving: { v1: ready },
        records: [
          record("v1", {
            promotionStartTime: ago(600),
            workers: true,
            fromBootstrap: true,
            buildStore: "store-a",
          }),
        ],
        candidate: { ...passing, bootstrap: { ...passing.bootstrap, name: "jobs-v1" } },
      }),
    );
    expect(message(decision)).toBe(
      "BootstrapRun jobs-v1 succeeded, but store store-b, which the pipelines now write to instead of store store-a, has no build of version v1: version v1 is bootstrapped again by a new BootstrapRun",
    );
    expect(decision.bootstrap).toBe("v1");
    expect(decision.records.find((entry) => entry.version === "v1")?.buildStore).toBe("store-b");
  });

  // v3's run started after the move and filled store-b, which then lost it: a loss, not the move.
  it("says the store lost the build when the run filled the store the pipelines name now", () => {
    const decision = decide([
      record("v2", { activatedTime: ago(7000), workers: true, store: "store-a" }),
      record("v3", {
        promotionStartTime: ago(600),
        workers: true,
        fromBootstrap: true,
        buildStore: "store-b",
      }),
    ]);
    expect(message(decision)).toMatch(
      /^BootstrapRun jobs-v3 succeeded, but the store no longer has version v3 \(it lost its data/,
    );
    expect(decision.bootstrap).toBe("v3");
  });

  it("notes the store a bootstrap is asked for in", () => {
    const decision = decidePromotion(
      promoting({
        store: store("v1", { v1: "complete" }),
        records: [
          record("v1", { activatedTime: ago(7000), workers: true }),
          record("v2", { promotionStartTime: ago(60) }),
        ],
        candidate: { bootstrap: undefined },
      }),
    );
    expect(decision.bootstrap).toBe("v2");
    const v2 = decision.records.find((entry) => entry.version === "v2")!;
    expect(v2.buildStore).toBe("jobs-store");
    expect(parseVersionRecord(desiredVersionRecord(exampleModel(), v2))?.buildStore).toBe("jobs-store");
  });
});

describe("a model with cutover Manual whose pipelines moved at rest", () => {
  // v3 was rolled back to v2 (a rollback goes without approval: approvedVersion still names v3), then
  // the pipelines moved to store-b and v2, the version readers use, was built there. Nothing new
  // reaches readers at its first flip in store-b; waiting for an approval of the active version would
  // wait for ever (`kubectl jude approve` refuses the active version).
  it("flips the version readers already use into the new store without a new approval", () => {
    const decision = decidePromotion(
      promoting({
        specVersion: "v2",
        spec: specOf("v2"),
        policy: { ...policy, cutover: "Manual", approvedVersion: "v3" },
        store: store(null, { v2: "complete" }, { name: "store-b" }),
        statusActive: "v2",
        serving: { v2: ready },
        writersPresent: ["v2"],
        records: [
          record("v2", {
            activatedTime: ago(3000),
            workers: true,
            store: "store-a",
            fromBootstrap: true,
          }),
          record("v3", {
            promotionStartTime: ago(6000),
            activatedTime: ago(5000),
            deactivatedTime: ago(3000),
            store: "store-a",
          }),
        ],
      }),
    );
    expect(decision.verdict).not.toMatchObject({ reason: "AwaitingApproval" });
    expect(decision.switchPointer).toMatchObject({ target: "v2", expectedCurrent: null });
  });
});
