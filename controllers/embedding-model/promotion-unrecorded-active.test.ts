// A model deleted mid-promotion and applied again: its version records went with it, while the store's
// pointer still names the version readers use. Nothing says how to serve that version any more (its
// model file is in no record), so its query Service selects no pods and no workers write its vectors
// until the candidate is promoted: the status says so instead of showing it Active with an endpoint.
import { describe, expect, it } from "vitest";
import { ago, policy, promoting, ready, record, specOf, store } from "./promotion-fixtures.ts";
import { decidePromotion } from "./promotion.ts";
import { promotionEvents } from "./promotion-status.ts";

describe("a promotion whose active version has no record (the model deleted and applied again)", () => {
  const reapplied = promoting({
    policy: { ...policy, cutover: "Manual" },
    store: store("v1", { v1: "complete" }),
    statusActive: undefined,
    records: [],
    serving: { v2: ready },
    writersPresent: [],
    candidate: { ...promoting().candidate, bootstrap: undefined },
  });
  const decision = decidePromotion(reapplied);

  it("keeps readers and the query Service on v1 but does not claim to serve it", () => {
    expect(decision.activeVersion).toBe("v1");
    expect(decision.queryVersion).toBe("v1");
    expect(decision.switchPointer).toBeUndefined();
    expect(decision.serve).toEqual(["v2"]);
    expect(decision.workers).not.toContain("v1");
  });

  it("says in Ready's message that v1 is not served and why", () => {
    expect(decision.verdict.state).toBe("Reconciling");
    expect(decision.verdict.message).toMatch(
      /^version v1, the one readers use \(the store's pointer\), has no record in this EmbeddingModel .*: it is not served \(the query Service selects no pods\) and no nearline workers update its vectors until v2 is promoted; once v2 is promoted .*: promoting v2: /,
    );
  });

  it("does not say that v1 keeps serving while v2 awaits approval", () => {
    const awaiting = decidePromotion({
      ...reapplied,
      store: store("v1", { v1: "complete", v2: "complete" }),
      records: decision.records,
      candidate: promoting().candidate,
      writersPresent: ["v2"],
    });
    expect(awaiting.verdict.reason).toBe("AwaitingApproval");
    expect(awaiting.verdict.message).toMatch(/^version v1, the one readers use .* it is not served /);
    expect(awaiting.verdict.message).not.toContain("keeps serving");
  });
});

describe("a spec reusing a recorded version's name while readers use a version without a record", () => {
  // The re-applied model promoted v2, then the store's rollback script put readers back on v1 (its
  // backup, which this model has no record of), and the spec went to v3 and back to v2 with another
  // model file: VersionRedefined. Nothing says how to serve v1 here either.
  const decision = decidePromotion(
    promoting({
      spec: specOf("v2b"),
      store: store("v1", { v1: "complete", v2: "complete" }, { backup: "v2" }),
      statusActive: "v2",
      records: [record("v2", { activatedTime: ago(3600), workers: true })],
      serving: { v2: ready },
      writersPresent: ["v2"],
    }),
  );

  it("does not serve v1 with the spec's model or say that it keeps serving", () => {
    expect(decision.verdict.reason).toBe("VersionRedefined");
    expect(decision.queryVersion).toBe("v1");
    expect(decision.serve).not.toContain("v1");
    expect(decision.verdict.message).not.toContain("keeps serving");
  });

  // Readers went from v2 to v1 by the store's script, not by this model: no Promoted/RolledBack Event
  // claims a switch it did not make (one said "no store: no NearlinePipeline names this model").
  it("announces no switch of readers to v1", () => {
    const previous = { activeVersion: "v2", versions: [{ version: "v2", phase: "Active" }] } as Parameters<
      typeof promotionEvents
    >[0];
    expect(decision.activeVersion).toBe("v1");
    const reasons = promotionEvents(previous, decision).map((event) => event.reason);
    expect(reasons).not.toContain("RolledBack");
    expect(reasons).not.toContain("Promoted");
  });
});

describe("what the status and Events say of the version readers use without a record", () => {
  const reapplied = decidePromotion(
    promoting({
      policy: { ...policy, cutover: "Manual" },
      store: store("v1", { v1: "complete", v2: "complete" }),
      statusActive: undefined,
      records: [record("v2", { promotionStartTime: ago(60) })],
      serving: { v2: ready },
      writersPresent: ["v2"],
    }),
  );

  // status.versions lists what the model serves or keeps; v1 is neither (readers use its vectors:
  // status.activeVersion and Ready say so), so no entry claims it Active and no Event announces it.
  it("lists no phase for v1 and announces none", () => {
    expect(reapplied.activeVersion).toBe("v1");
    expect(reapplied.phases.v1).toBeUndefined();
    expect(reapplied.phases.v2).toBe("AwaitingCutover");
    const events = promotionEvents(undefined, reapplied);
    expect(events.map((event) => event.message).filter((message) => message.includes("v1 -"))).toEqual([]);
  });

  it("tells before the approval that v1 is no rollback target once v2 is promoted", () => {
    expect(reapplied.verdict.reason).toBe("AwaitingApproval");
    expect(reapplied.verdict.message).toMatch(
      /once v2 is promoted this model cannot roll back to v1 \(no record\): spec.version set back to v1 builds it again with a bootstrap; its vectors stay only as the store's backup until the next switch/,
    );
  });

  // A serving-only model whose active record ConfigMap was deleted by hand: no store, no pointer.
  it("words a serving-only model's message for what it has", () => {
    const servingOnly = decidePromotion(
      promoting({
        policy: { ...policy, cutover: "Manual" },
        store: undefined,
        statusActive: "v1",
        records: [record("v2", { promotionStartTime: ago(60) })],
        serving: { v2: ready },
        writersPresent: [],
      }),
    );
    expect(servingOnly.activeVersion).toBe("v1");
    expect(servingOnly.serve).toEqual(["v2"]);
    expect(servingOnly.verdict.message).toMatch(
      /^version v1, the active one \(status.activeVersion\), has no record in this EmbeddingModel \(its record ConfigMap deleted, or the model deleted and applied again\): it is not served \(the query Service selects no pods\) until v2 is promoted: /,
    );
    expect(servingOnly.verdict.message).not.toMatch(/pointer|store|nearline/);
  });
});
