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
    checkInputs(inputs: EmbedCall["inputs"]): void {
      const empty = inputs.findIndex((input) => input.text === "");
      if (empty >= 0) throw servingErrors.emptyText(empty);
    },
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

  it("checks every input before the first part runs", async () => {
    const { calls, context } = contextWith(4);
    const inputs = [...call(9).inputs, { text: "" }];
    await expect(embedInChunks(context, { inputs, truncate: false })).rejects.toMatchObject({
      code: "EMPTY_TEXT",
      message: "input 9 is empty: send a text with at least one character",
    });
    expect(calls).toEqual([]);
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

describe("handleOpenAiEmbeddings input errors", () => {
  const refusal = async (input: unknown) => {
    const { context } = contextWith(4);
    const error = await handleOpenAiEmbeddings(context, { input }, new AbortController().signal).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error).toBeDefined();
    return error!.message;
  };

  it("says token ids are refused only for token ids", async () => {
    expect(await refusal([101, 102])).toMatch(/token ids are not accepted/);
    expect(await refusal([[101, 102], [103]])).toMatch(/token ids are not accepted/);
  });

  it("names the list item that is not a string", async () => {
    const message = await refusal(["a", 5]);
    expect(message).toContain("input[1] is a number: input must be a string or a list of strings");
    expect(message).not.toMatch(/token ids/);
    expect(await refusal(["a", "b", null])).toContain("input[2] is null");
  });

  it("names the type of an input that is neither a string nor a list", async () => {
    expect(await refusal(5)).toContain("input is a number: input must be a string or a list of strings");
    expect(await refusal({ text: "a" })).toContain("input is an object");
  });
});
