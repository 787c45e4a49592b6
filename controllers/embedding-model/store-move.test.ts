import { describe, expect, it } from "vitest";
import { decidePromotion } from "./promotion.ts";
import { ago, policy, promoting, ready, record, specOf, store } from "./promotion-fixtures.ts";

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
