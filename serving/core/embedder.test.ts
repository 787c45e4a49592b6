import { describe, expect, it } from "vitest";
import { ControlledBackend } from "../../test/support/serving/controlled-backend.ts";
import { tinyTokenizer } from "../../test/support/serving/tiny-tokenizer.ts";
import { Batcher } from "./batcher.ts";
import { Embedder } from "./embedder.ts";
import { ServingError } from "./errors.ts";
import { Permits } from "../../plumbing/permits.ts";
import type { EmbedCall, ModelIdentity } from "./types.ts";

const model: ModelIdentity = {
  name: "tiny",
  version: "v1",
  digest: `sha256:${"0".repeat(64)}`,
  precision: "fp32",
  dimensions: 4,
  maxSequenceLength: 6,
  pooling: "mean",
  normalize: true,
};

function setup(options: { permits?: number; maxInputsPerCall?: number } = {}) {
  const backend = new ControlledBackend(4);
  const batching = { maxBatchTokens: 1000, maxBatchSize: 16 };
  const embedder = new Embedder({
    model,
    tokenizer: tinyTokenizer(),
    batcher: new Batcher({ backend, limits: batching, maxQueueDelayMs: 0 }),
    permits: new Permits(options.permits ?? 8),
    limits: { maxInputsPerCall: options.maxInputsPerCall ?? 4 },
    batching,
    prompts: { query: "query: ", job: "job {{title}} at {{company}}" },
  });
  embedder.markReady();
  return { backend, embedder };
}

/** Runs a call, completing batches as they start, and returns the result. */
async function run(embedder: Embedder, backend: ControlledBackend, call: EmbedCall) {
  const pending = embedder.embed(call);
  let settled = false;
  void pending.finally(() => (settled = true)).catch(() => {});
  for (let completed = 0; !settled; completed++) {
    await Promise.race([backend.waitForBatches(completed + 1), pending.catch(() => {})]);
    if (backend.running > 0) backend.complete();
  }
  return pending;
}

const failure = (code: string, message: string | RegExp) =>
  expect.objectContaining({
    code,
    message: typeof message === "string" ? message : expect.stringMatching(message),
  });

describe("Embedder admission and validation", () => {
  const cases: Array<[string, Partial<EmbedCall>, string, string | RegExp]> = [
    ["no inputs", { inputs: [] }, "EMPTY_INPUTS", "inputs must not be empty: send at least one input"],
    [
      "more inputs than allowed",
      { inputs: Array.from({ length: 5 }, () => ({ text: "hello" })) },
      "TOO_MANY_INPUTS",
      "too many inputs: 5 in one call, the limit is 4",
    ],
    ["an empty text", { inputs: [{ text: "hello" }, { text: "" }] }, "EMPTY_TEXT", /^input 1 is empty/],
    [
      "a text over the model limit without truncate",
      { inputs: [{ text: "hello world hello world hello" }] },
      "INPUT_TOO_LONG",
      "input 0 is longer than the model's limit of 6 tokens; set truncate to embed its first 6 tokens",
    ],
    [
      "an unknown prompt name",
      { inputs: [{ text: "hello", promptName: "resume" }] },
      "UNKNOWN_PROMPT",
      'unknown prompt name "resume"; this model knows "query", "job"',
    ],
    [
      "a prompt field that is missing",
      { inputs: [{ text: "x", promptName: "job", fields: { title: "engineer" } }] },
      "MISSING_PROMPT_FIELD",
      'input 0: prompt "job" needs the field "company"',
    ],
    [
      "too many dimensions",
      { inputs: [{ text: "hello" }], dimensions: 5 },
      "INVALID_DIMENSIONS",
      /between 1 and the model's 4/,
    ],
  ];
  it.each(cases)("refuses %s", async (_name, call, code, message) => {
    const { embedder, backend } = setup();
    await expect(embedder.embed({ inputs: [], truncate: false, ...call })).rejects.toEqual(
      failure(code, message),
    );
    expect(backend.batches).toHaveLength(0);
    expect(embedder.permits.inUse).toBe(0);
  });

  it("checkInputs refuses, without tokenizing, what embed would refuse of a prompt or an empty text", () => {
    const { embedder } = setup();
    const check = (inputs: EmbedCall["inputs"]) => {
      try {
        embedder.checkInputs(inputs);
        return undefined;
      } catch (error) {
        return error;
      }
    };
    expect(check([{ text: "hello" }, { text: "" }])).toEqual(failure("EMPTY_TEXT", /^input 1 is empty/));
    expect(check([{ text: "x" }, { text: "hello", promptName: "resume" }])).toEqual(
      failure("UNKNOWN_PROMPT", /^unknown prompt name "resume"/),
    );
    expect(check([{ text: "x", promptName: "job", fields: { title: "engineer" } }])).toEqual(
      failure("MISSING_PROMPT_FIELD", 'input 0: prompt "job" needs the field "company"'),
    );
    // Not empty once its prompt is applied; a text over the limit is left to embed's tokenizer.
    expect(check([{ text: "", promptName: "query" }, { text: "hello world hello world hello" }])).toBe(
      undefined,
    );
    expect(embedder.permits.inUse).toBe(0);
  });

  it("fails fast with OVERLOADED while the permits are taken", async () => {
    const { embedder, backend } = setup({ permits: 2 });
    // run() starts the call synchronously: its permits are held from here until it is answered.
    const admitted = run(embedder, backend, {
      inputs: [{ text: "hello" }, { text: "world" }],
      truncate: false,
    });
    await expect(embedder.embed({ inputs: [{ text: "hello" }], truncate: false })).rejects.toEqual(
      failure("OVERLOADED", /more than 2 inputs in flight/),
    );
    await admitted;
    expect(embedder.permits.inUse).toBe(0);
  });

  it("gives a cancelled call's permits back at once, while the batch before it still runs", async () => {
    const { embedder, backend } = setup({ permits: 2 });
    const running = embedder.embed({ inputs: [{ text: "hello" }], truncate: false });
    await backend.waitForBatches(1);
    const controller = new AbortController();
    const cancelled = embedder.embed({
      inputs: [{ text: "world" }],
      truncate: false,
      signal: controller.signal,
    });
    await expect(embedder.embed({ inputs: [{ text: "again" }], truncate: false })).rejects.toEqual(
      failure("OVERLOADED", /more than 2 inputs in flight/),
    );
    controller.abort();
    await expect(cancelled).rejects.toEqual(failure("CANCELLED", /cancel/));
    // The first batch has not finished: the queue room and the permit went back on the abort.
    expect(backend.running).toBe(1);
    expect(embedder.permits.inUse).toBe(1);
    const admitted = embedder.embed({ inputs: [{ text: "again" }], truncate: false });
    backend.complete();
    await running;
    await backend.waitForBatches(2);
    backend.complete();
    await admitted;
    expect(embedder.permits.inUse).toBe(0);
  });

  it("refuses calls while loading and while draining", async () => {
    const { embedder } = setup();
    const loading = new Embedder({ ...embedderOptionsOf(embedder) });
    await expect(loading.embed({ inputs: [{ text: "hello" }], truncate: false })).rejects.toEqual(
      failure("NOT_READY", /loading/),
    );
    await embedder.drain();
    await expect(embedder.embed({ inputs: [{ text: "hello" }], truncate: false })).rejects.toEqual(
      failure("DRAINING", /shutting down/),
    );
  });
});

describe("Embedder results", () => {
  it("answers in input order with token counts, normalised vectors and the model identity", async () => {
    const { embedder, backend } = setup();
    const result = await run(embedder, backend, {
      inputs: [{ text: "hello world" }, { text: "hello" }],
      truncate: false,
    });
    expect(result.embeddings.map((embedding) => embedding.tokenCount)).toEqual([4, 3]);
    expect(result.totalTokens).toBe(7);
    for (const { vector } of result.embeddings) {
      expect(Math.hypot(...vector)).toBeCloseTo(1, 6);
    }
    expect(result.model).toBe(model);
  });

  it("truncates when asked, cuts dimensions, and skips normalisation when told to", async () => {
    const { embedder, backend } = setup();
    const result = await run(embedder, backend, {
      inputs: [{ text: "hello world hello world hello" }],
      truncate: true,
      normalize: false,
      dimensions: 2,
    });
    expect(result.embeddings[0]).toMatchObject({ tokenCount: 6, truncated: true });
    expect(Array.from(result.embeddings[0]?.vector ?? [])).toEqual([6, 1]);
  });

  it("applies a prefix prompt and a template prompt before tokenizing", async () => {
    const { embedder, backend } = setup();
    const result = await run(embedder, backend, {
      inputs: [
        { text: "hello", promptName: "query" },
        { text: "", promptName: "job", fields: { title: "engineer", company: "acme" } },
      ],
      truncate: false,
      normalize: false,
    });
    // "query : hello" and "job engineer at acme", each inside [CLS] … [SEP].
    expect(result.embeddings.map((embedding) => embedding.vector[0])).toEqual([5, 6]);
  });

  it("drain() waits for calls in flight", async () => {
    const { embedder, backend } = setup();
    const inFlight = embedder.embed({ inputs: [{ text: "hello" }], truncate: false });
    await backend.waitForBatches(1);
    expect(embedder.drainSignal.aborted).toBe(false);
    let drained = false;
    const draining = embedder.drain().then(() => (drained = true));
    expect(drained).toBe(false);
    // Streams learn at once that the drain started, while the call in flight still runs.
    expect(embedder.drainSignal.aborted).toBe(true);
    expect((embedder.drainSignal.reason as { code?: string }).code).toBe("DRAINING");
    backend.complete();
    await inFlight;
    await draining;
    expect(drained).toBe(true);
  });
});

function embedderOptionsOf(embedder: Embedder) {
  const backend = new ControlledBackend(4);
  return {
    model: embedder.model,
    tokenizer: tinyTokenizer(),
    batcher: new Batcher({ backend, limits: embedder.batching, maxQueueDelayMs: 0 }),
    permits: new Permits(4),
    limits: embedder.limits,
    batching: embedder.batching,
    prompts: {},
  };
}

it("ServingError carries a public code with the JUDE_SERVING_ prefix", () => {
  expect(new ServingError("OVERLOADED", "x").publicCode).toBe("JUDE_SERVING_OVERLOADED");
});
