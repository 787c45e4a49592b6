import { describe, expect, it } from "vitest";
import { promotionSteps } from "./promotion-steps.ts";

const condition = (type: string, status: "True" | "False", message: string) => ({
  type,
  status,
  reason: "Test",
  message,
  lastTransitionTime: "2026-12-02T01:00:00Z",
});

describe("promotionSteps", () => {
  it("narrates new phases, changed gate values and the switch of the active version", () => {
    const before = {
      activeVersion: "minilm-v1",
      versions: [
        { version: "minilm-v1", phase: "Active" as const },
        { version: "minilm-v2", phase: "Bootstrapping" as const },
      ],
      conditions: [condition("CoverageMet", "False", "coverage 0.50 < 0.99")],
    };
    const after = {
      activeVersion: "minilm-v2",
      versions: [
        { version: "minilm-v1", phase: "Draining" as const },
        { version: "minilm-v2", phase: "Active" as const },
      ],
      conditions: [
        condition("CoverageMet", "True", "coverage 1.00 >= 0.99"),
        condition("Promoted", "True", "readers use minilm-v2"),
      ],
    };
    expect(promotionSteps(before, after)).toEqual([
      "version minilm-v1: Active -> Draining",
      "version minilm-v2: Bootstrapping -> Active",
      "✓ CoverageMet       coverage 1.00 >= 0.99",
      "✓ Promoted          readers use minilm-v2",
      "active version is now minilm-v2",
    ]);
  });

  it("narrates outcome conditions on status changes only, and Stalled only when it matters", () => {
    const before = {
      conditions: [
        condition("Promoted", "False", "waiting for CoverageMet"),
        condition("Stalled", "False", "fine"),
      ],
    };
    const after = {
      conditions: [
        condition("Promoted", "False", "waiting for ParityPassed"),
        condition("Stalled", "True", "deadline passed"),
      ],
    };
    expect(promotionSteps(before, after)).toEqual(["✗ Stalled           deadline passed"]);
    // Cleared: "✓ Stalled" read as a stall confirmed, with the Ready message (the operator writes it
    // on the False Stalled too) as its why.
    const cleared = {
      conditions: [
        { ...condition("Stalled", "False", "version minilm-v2: bootstrapping"), reason: "Bootstrapping" },
      ],
    };
    expect(promotionSteps(after, cleared)).toEqual(["✓ not Stalled"]);
    expect(promotionSteps(undefined, before)).toEqual(["✗ Promoted          waiting for CoverageMet"]);
  });

  it("marks a gate still waited for with … and a failed one with ✗, by the operator's reason", () => {
    const gate = (type: string, reason: string, message: string) => ({
      ...condition(type, "False", message),
      reason,
    });
    const after = {
      conditions: [
        gate("BootstrapComplete", "Bootstrapping", "BootstrapRun minilm-v2 is Running (40%)"),
        gate("CaughtUp", "WaitingForWorkers", "0/1 pipelines report version minilm-v2's workers"),
        gate("ParityPassed", "ParityFailed", "version minilm-v2: 3/4 sampled vectors matched"),
      ],
    };
    expect(promotionSteps(undefined, after)).toEqual([
      "… BootstrapComplete BootstrapRun minilm-v2 is Running (40%)",
      "… CaughtUp          0/1 pipelines report version minilm-v2's workers",
      "✗ ParityPassed      version minilm-v2: 3/4 sampled vectors matched",
    ]);
  });

  it("says nothing when nothing it narrates changed", () => {
    const status = {
      versions: [{ version: "v1", phase: "Active" as const }],
      conditions: [condition("Ready", "True", "x")],
    };
    expect(promotionSteps(status, structuredClone(status))).toEqual([]);
    expect(promotionSteps(undefined, { versions: [{ version: "v2", phase: "Deploying" as const }] })).toEqual(
      ["version v2: new -> Deploying"],
    );
  });
});
