// A rollback within the second of the flip it reverts (records keep whole-second times, as conditions
// do): the version readers are back on is live, so the next promotion drains it for bakeSeconds.
import { describe, expect, it } from "vitest";
import { now, promoting, ready, rollingBackToV1, takingOverFromV1 } from "./promotion-fixtures.ts";
import { decidePromotion } from "./promotion.ts";

const at = (ms: number) => new Date(now.getTime() + ms);

describe("a rollback in the same second as the flip it reverts", () => {
  const flipped = decidePromotion(promoting());
  const rolledBack = decidePromotion(rollingBackToV1(flipped.records, now.getTime(), at(400)));

  it("flips back at once, v1 active and v2 draining", () => {
    expect(flipped.switchPointer).toMatchObject({ kind: "flip", target: "v2" });
    expect(rolledBack.switchPointer).toMatchObject({ kind: "rollback", target: "v1" });
    expect(rolledBack.phases).toEqual({ v1: "Active", v2: "Draining" });
    expect(rolledBack.conditions.find((entry) => entry.type === "RolledBack")).toMatchObject({
      status: "True",
      reason: "RolledBack",
    });
  });

  it("drains v1 for bakeSeconds when a later version takes over from it", () => {
    const later = at(2 * 3600_000);
    const v3Flip = decidePromotion(
      takingOverFromV1(rolledBack.records, at(400).getTime(), later, {
        serving: { v1: ready, v3: ready },
        writersPresent: ["v1", "v3"],
      }),
    );
    expect(v3Flip.switchPointer).toMatchObject({ kind: "flip", expectedCurrent: "v1", target: "v3" });
    // v1 readers left just now: a rollback to it stays one flip for bakeSeconds.
    expect(v3Flip.phases.v1).toBe("Draining");
    expect(v3Flip.serve).toContain("v1");
    expect(v3Flip.workers).toContain("v1");
  });
});
