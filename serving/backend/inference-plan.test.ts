import { describe, expect, it } from "vitest";
import { cpuBatchTokens, planInference } from "./inference-plan.ts";

describe("planInference", () => {
  it("runs two workers with half the cores each by default", () => {
    expect(
      planInference({ executionProvider: "cpu", inferenceWorkers: 0, intraOpThreads: 0, cores: 2 }),
    ).toEqual({
      workers: 2,
      intraOpThreads: 1,
    });
    expect(
      planInference({ executionProvider: "cpu", inferenceWorkers: 0, intraOpThreads: 0, cores: 16 }),
    ).toEqual({
      workers: 2,
      intraOpThreads: 8,
    });
  });

  it("splits the cores between the workers asked for", () => {
    expect(
      planInference({ executionProvider: "cpu", inferenceWorkers: 2, intraOpThreads: 0, cores: 16 }),
    ).toEqual({
      workers: 2,
      intraOpThreads: 8,
    });
    expect(
      planInference({ executionProvider: "cpu", inferenceWorkers: 3, intraOpThreads: 0, cores: 8 }),
    ).toEqual({
      workers: 3,
      intraOpThreads: 2,
    });
  });

  it("runs one worker with one thread on one core (ONNX Runtime would count the node's cores)", () => {
    expect(
      planInference({ executionProvider: "cpu", inferenceWorkers: 0, intraOpThreads: 0, cores: 1 }),
    ).toEqual({
      workers: 1,
      intraOpThreads: 1,
    });
  });

  it("keeps explicit settings", () => {
    expect(
      planInference({ executionProvider: "cpu", inferenceWorkers: 1, intraOpThreads: 0, cores: 2 }),
    ).toEqual({
      workers: 1,
      intraOpThreads: 2,
    });
    expect(
      planInference({ executionProvider: "cpu", inferenceWorkers: 2, intraOpThreads: 2, cores: 2 }),
    ).toEqual({
      workers: 2,
      intraOpThreads: 2,
    });
  });

  it("runs one worker on a GPU unless told otherwise", () => {
    expect(
      planInference({ executionProvider: "cuda", inferenceWorkers: 0, intraOpThreads: 0, cores: 8 }),
    ).toEqual({
      workers: 1,
      intraOpThreads: 0,
    });
    expect(
      planInference({ executionProvider: "cuda", inferenceWorkers: 2, intraOpThreads: 0, cores: 8 }),
    ).toEqual({
      workers: 2,
      intraOpThreads: 0,
    });
  });

  it("never plans fewer than one thread per worker", () => {
    expect(
      planInference({ executionProvider: "cpu", inferenceWorkers: 4, intraOpThreads: 0, cores: 2 }),
    ).toEqual({
      workers: 4,
      intraOpThreads: 1,
    });
  });
});

describe("cpuBatchTokens", () => {
  it("caps the token budget on the CPU", () => {
    expect(cpuBatchTokens(16_384, 2_048, 512)).toBe(2_048);
  });

  it("keeps a smaller configured budget", () => {
    expect(cpuBatchTokens(1_024, 2_048, 512)).toBe(1_024);
  });

  it("never caps below the longest input", () => {
    expect(cpuBatchTokens(16_384, 2_048, 8_192)).toBe(8_192);
  });

  it("does not cap when the cap is 0", () => {
    expect(cpuBatchTokens(16_384, 0, 512)).toBe(16_384);
  });
});
