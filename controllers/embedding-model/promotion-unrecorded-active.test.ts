// A model deleted mid-promotion and applied again: its version records went with it, while the store's
// pointer still names the version readers use. Nothing says how to serve that version any more (its
// model file is in no record), so its query Service selects no pods and no workers write its vectors
// until the candidate is promoted: the status says so instead of showing it Active with an endpoint.
import { describe, expect, it } from "vitest";
import { policy, promoting, ready, store } from "./promotion-fixtures.ts";
import { decidePromotion } from "./promotion.ts";

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
      /^version v1, the one readers use \(the store's pointer\), has no record in this EmbeddingModel .*: it is not served \(the query Service selects no pods\) and no nearline workers update its vectors until v2 is promoted: promoting v2: /,
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
