// A rollback within the second of the flip it reverts (records keep whole-second times, as conditions
// do): the version readers are back on is live, so the next promotion drains it for bakeSeconds.
import { describe, expect, it } from "vitest";
import { now, passing, promoting, ready, record, specOf, store } from "./promotion-fixtures.ts";
import { decidePromotion } from "./promotion.ts";

const at = (ms: number) => new Date(now.getTime() + ms);

describe("a rollback in the same second as the flip it reverts", () => {
  const flipped = decidePromotion(promoting());
  const rolledBack = decidePromotion({
    ...promoting(),
    specVersion: "v1",
    spec: specOf("v1"),
    store: store("v2", { v1: "complete", v2: "complete" }, { backup: "v1", flippedAtMs: now.getTime() }),
    statusActive: "v2",
    records: flipped.records,
    now: at(400),
  });

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
    const v3Flip = decidePromotion({
      ...promoting(),
      specVersion: "v3",
      spec: specOf("v3"),
      store: store(
        "v1",
        { v1: "complete", v2: "complete", v3: "complete" },
        { backup: "v2", flippedAtMs: at(400).getTime() },
      ),
      statusActive: "v1",
      records: [
        ...rolledBack.records,
        record("v3", { promotionStartTime: new Date(later.getTime() - 60_000).toISOString() }),
      ],
      serving: { v1: ready, v3: ready },
      candidate: passing,
      writersPresent: ["v1", "v3"],
      now: later,
    });
    expect(v3Flip.switchPointer).toMatchObject({ kind: "flip", expectedCurrent: "v1", target: "v3" });
    // v1 readers left just now: a rollback to it stays one flip for bakeSeconds.
    expect(v3Flip.phases.v1).toBe("Draining");
    expect(v3Flip.serve).toContain("v1");
    expect(v3Flip.workers).toContain("v1");
  });
});
