import { describe, expect, it } from "vitest";
import type { EmbedResult } from "../core/types.ts";
import { codePointCount, teiHeaders, teiMetadata } from "./tei-metadata.ts";

const result = {
  embeddings: [],
  totalTokens: 9,
  model: {} as EmbedResult["model"],
  timings: { tokenizationNs: 1_500_000, queueNs: 2_999_999, inferenceNs: 10_000_000, totalNs: 15_200_000 },
} satisfies EmbedResult;

describe("TEI metadata", () => {
  it("counts Unicode code points, as TEI does, not UTF-16 units", () => {
    expect(codePointCount("rocket 🚀🚀 ok")).toBe(12);
    expect("rocket 🚀🚀 ok".length).toBe(14);
    expect(codePointCount("naïve 日本")).toBe(8);
    expect(codePointCount("")).toBe(0);
  });

  it("sums characters over the texts and keeps the call's times", () => {
    expect(teiMetadata(["🚀", "ab"], result)).toEqual({
      computeChars: 3,
      computeTokens: 9,
      totalTimeNs: 15_200_000,
      tokenizationTimeNs: 1_500_000,
      queueTimeNs: 2_999_999,
      inferenceTimeNs: 10_000_000,
    });
  });

  it("sends TEI's x-* headers in whole milliseconds", () => {
    expect(teiHeaders(teiMetadata(["🚀🚀"], result), "cpu")).toEqual({
      "x-compute-type": "cpu",
      "x-compute-time": "15",
      "x-compute-characters": "2",
      "x-compute-tokens": "9",
      "x-total-time": "15",
      "x-tokenization-time": "1",
      "x-queue-time": "2",
      "x-inference-time": "10",
    });
    expect(teiHeaders(teiMetadata(["a"], result), "cuda")["x-compute-type"]).toBe("gpu");
  });
});
