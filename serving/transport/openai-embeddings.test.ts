import { describe, expect, it } from "vitest";
import type { Embedder } from "../core/embedder.ts";
import { servingErrors } from "../core/errors.ts";
import type { EmbedCall, EmbedResult } from "../core/types.ts";
import type { ServingMetrics } from "../metrics.ts";
import type { CallContext } from "./call-context.ts";
import { embedInChunks, handleOpenAiEmbeddings } from "./openai-embeddings.ts";

/** A context whose embedder answers each text with [its length] and records the calls' sizes. */
function contextWith(maxInputsPerCall: number, fail?: (call: EmbedCall) => Error | undefined) {
  const calls: number[] = [];
  const embedder = {
    limits: { maxInputsPerCall },
    async embed(call: EmbedCall): Promise<EmbedResult> {
      calls.push(call.inputs.length);
      const error = fail?.(call);
      if (error) throw error;
      return {
        embeddings: call.inputs.map((input) => ({
          vector: Float32Array.of(input.text.length),
          tokenCount: 2,
          truncated: false,
        })),
        totalTokens: 2 * call.inputs.length,
        model: {} as EmbedResult["model"],
        timings: { tokenizationNs: 1, queueNs: calls.length, inferenceNs: 10, totalNs: 20 },
      };
    },
  } as unknown as Embedder;
  const metrics = { tokenizeDuration: { observe: () => {} } } as unknown as ServingMetrics;
  return { calls, context: { embedder, metrics } as unknown as CallContext };
}

const call = (count: number): EmbedCall => ({
  inputs: Array.from({ length: count }, (_, index) => ({ text: "x".repeat(index + 1) })),
  truncate: false,
});

describe("embedInChunks", () => {
  it("splits a big call into calls of at most maxInputsPerCall, answers in order and sums usage", async () => {
    const { calls, context } = contextWith(4);
    const result = await embedInChunks(context, call(10));
    expect(calls).toEqual([4, 4, 2]);
    expect(result.embeddings.map((embedding) => embedding.vector[0])).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    expect(result.totalTokens).toBe(20);
    expect(result.timings).toEqual({ tokenizationNs: 3, queueNs: 3, inferenceNs: 30, totalNs: 60 });
  });

  it("names a bad input by its place in the whole call", async () => {
    const { context } = contextWith(4, (part) =>
      part.inputs[0]?.text.length === 5 ? servingErrors.emptyText(1) : undefined,
    );
    await expect(embedInChunks(context, call(10))).rejects.toMatchObject({
      code: "EMPTY_TEXT",
      message: "input 5 is empty: send a text with at least one character",
    });
  });
});

describe("POST /v1/embeddings without input", () => {
  it.each([{}, { input: null }])("says input is required: %j", async (document) => {
    await expect(
      handleOpenAiEmbeddings({} as CallContext, document, new AbortController().signal),
    ).rejects.toMatchObject({
      code: "MALFORMED_REQUEST",
      message: "malformed request: input: input is required: a string or a list of strings",
    });
  });
});
