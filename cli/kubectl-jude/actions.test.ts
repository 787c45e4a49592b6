import { describe, expect, it } from "vitest";
import { approve, rollback } from "./actions.ts";
import { promotingModel } from "./fixtures.test-data.ts";

describe("approve", () => {
  it("approves the version being promoted", () => {
    expect(approve(promotingModel())).toEqual({
      patch: { promotion: { approvedVersion: "minilm-v2" } },
      summary: "approved cutover of minilm to minilm-v2",
    });
  });

  it.each([
    [
      "another version",
      (model = promotingModel()) => approve(model, "minilm-v9"),
      /not the version being promoted/,
    ],
    [
      "an Automatic cutover",
      (model = promotingModel()) =>
        approve({
          ...model,
          spec: { ...model.spec, promotion: { ...model.spec.promotion, cutover: "Automatic" } },
        }),
      /cutover Automatic/,
    ],
    [
      "an already active version",
      (model = promotingModel()) =>
        approve({ ...model, status: { ...model.status, activeVersion: "minilm-v2" } }),
      /already the active version/,
    ],
  ])("refuses %s", (_case, decide, message) => {
    const decision = decide();
    expect("refused" in decision && decision.refused).toMatch(message);
  });
});

describe("rollback", () => {
  it("goes back to the most recently active retained version by default", () => {
    expect(rollback(promotingModel())).toEqual({
      patch: { version: "minilm-v0" },
      summary: "rolling minilm back to minilm-v0 (was minilm-v1)",
    });
  });

  it("refuses a version that is not retained", () => {
    const decision = rollback(promotingModel(), "minilm-v2");
    expect("refused" in decision && decision.refused).toMatch(
      /not a retained version of minilm \(kept: minilm-v0\)/,
    );
  });

  it("refuses when nothing is retained", () => {
    const model = promotingModel();
    const decision = rollback({ ...model, status: { ...model.status, versions: [] } });
    expect(decision).toEqual({ refused: "minilm has no retained version to roll back to" });
  });
});
