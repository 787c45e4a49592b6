// Clocks that disagree by a second or more: operator replicas after a failover, or the store's flip
// time (its pointer's flipped_at_ms, Redis' clock) against the operator's. A version that readers
// leave at a time before the one its record says it was activated (written by the other clock) has
// still left: it must not stay live in its record, or the next switch "deactivates" it again and
// drains it anew for bakeSeconds (its serving and workers brought back hours after readers left it).
import { describe, expect, it } from "vitest";
import { now, promoting, ready, rollingBackToV1, takingOverFromV1 } from "./promotion-fixtures.ts";
import { decidePromotion } from "./promotion.ts";

const at = (ms: number) => new Date(now.getTime() + ms);

describe("a switch whose clock runs behind the one that activated the version it leaves", () => {
  it("leaves the version readers left, so a later switch does not drain it again", () => {
    // Replica A (clock 2 s ahead) flips v1 -> v2; after a failover, replica B rolls back to v1.
    const flipped = decidePromotion(promoting({ now: at(2000) }));
    expect(flipped.switchPointer).toMatchObject({ kind: "flip", target: "v2" });
    const rolledBack = decidePromotion(rollingBackToV1(flipped.records, at(2000).getTime(), now));
    expect(rolledBack.switchPointer).toMatchObject({ kind: "rollback", target: "v1" });
    expect(rolledBack.phases).toMatchObject({ v1: "Active", v2: "Draining" });

    const later = at(2 * 3600_000);
    const v3Flip = decidePromotion(
      takingOverFromV1(rolledBack.records, now.getTime(), later, {
        serving: { v1: ready, v2: ready, v3: ready },
        writersPresent: ["v1", "v2", "v3"],
      }),
    );
    expect(v3Flip.switchPointer).toMatchObject({ kind: "flip", expectedCurrent: "v1", target: "v3" });
    expect(v3Flip.phases.v1).toBe("Draining");
    // Readers left v2 two hours ago, past its bake: not draining again.
    expect(v3Flip.phases.v2).not.toBe("Draining");
    expect(v3Flip.serve).not.toContain("v2");
  });
});
