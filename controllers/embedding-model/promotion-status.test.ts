import { describe, expect, it } from "vitest";
import { compareVectors } from "./parity.ts";
import { now, promoting, ready, rolling } from "./promotion-fixtures.ts";
import { promotionEvents, promotionStatus } from "./promotion-status.ts";
import { decidePromotion } from "./promotion.ts";

const endpoint = (version: string) => `m-${version}.ns.svc:50051`;

describe("status and events of a promotion", () => {
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
