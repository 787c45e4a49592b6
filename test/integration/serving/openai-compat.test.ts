/**
 * An OpenAI-shaped client, written from OpenAI's embeddings API reference, against the real server:
 * 2,048 inputs per call (what the SDKs send by default), the `model` check, `GET /v1/models`, and
 * OpenAI's error body on every route. Overload gives 429 in each API's own error shape.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddingServer } from "../../../serving/server.ts";
import {
  type CreateEmbeddingResponse,
  OpenAiApiError,
  type OpenAiErrorBody,
  OpenAiClient,
} from "./clients/openai-client.ts";
import { TeiHttpClient, TeiHttpError } from "./clients/tei-http-client.ts";
import { BATCHING_TOLERANCE, maxAbsDifference, readReference, startServer } from "./helpers.ts";

let server: EmbeddingServer;
let openai: OpenAiClient;
let texts: string[];

beforeAll(async () => {
  server = await startServer({ model: { version: "2026-11-01" } });
  openai = new OpenAiClient(`http://127.0.0.1:${server.httpPort}/v1`);
  // OpenAI clients send no `truncate`: short texts (reference openings), well within 256 tokens.
  const base = (await readReference()).items.map((item) => item.text.slice(0, 80));
  texts = Array.from({ length: 2_048 }, (_, index) => `${base[index % base.length]} (${index})`);
});
afterAll(() => server?.close());

async function openAiError(promise: Promise<unknown>): Promise<OpenAiApiError> {
  const error = await promise.catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(OpenAiApiError);
  return error as OpenAiApiError;
}

describe("POST /v1/embeddings", () => {
  it("embeds 2,048 inputs in one call, equal to one call per input", { timeout: 600_000 }, async () => {
    const all = await openai.createEmbeddings({ model: server.model.name, input: texts });
    expect(all.data.map((item) => item.index)).toEqual(texts.map((_, index) => index));
    let tokens = 0;
    const different: number[] = [];
    for (const [index, text] of texts.entries()) {
      const one = await openai.createEmbeddings({ model: server.model.name, input: text });
      tokens += one.usage.prompt_tokens;
      if (maxAbsDifference(one.data[0]!.embedding, all.data[index]!.embedding) > BATCHING_TOLERANCE.fp32)
        different.push(index);
    }
    expect(different).toEqual([]);
    expect(all.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  it("answers for the model's name, its version and name:version", async () => {
    for (const model of [server.model.name, "2026-11-01", `${server.model.name}:2026-11-01`]) {
      const answer = await openai.createEmbeddings({ model, input: "hello", encoding_format: "float" });
      expect(answer.data[0]!.embedding).toHaveLength(384);
    }
  });

  it("refuses another model with 404 model_not_found", async () => {
    for (const model of ["text-embedding-3-small", `${server.model.name}:2026-12-01`]) {
      const error = await openAiError(openai.createEmbeddings({ model, input: "hello" }));
      expect(error.status).toBe(404);
      expect(error.body).toEqual({
        error: {
          message: expect.stringContaining(`"${model}"`),
          type: "invalid_request_error",
          param: "model",
          code: "model_not_found",
        },
      });
    }
  });

  it("takes null for an optional field as not given (LiteLLM sends encoding_format: null)", async () => {
    const expected = await openai.createEmbeddings({
      model: server.model.name,
      input: "hello",
      encoding_format: "float",
    });
    const nulls = { model: null, encoding_format: null, dimensions: null, user: null, prompt_name: null };
    const answer = (await openai.raw("POST", "/embeddings", {
      input: "hello",
      ...nulls,
      truncate: null,
      normalize: null,
    })) as CreateEmbeddingResponse;
    expect(answer.model).toBe(server.model.name);
    expect(answer.data[0]!.embedding).toEqual(expected.data[0]!.embedding); // floats, all dimensions, normalised
  });

  it("says a body without input lacks it, not that it holds token ids", async () => {
    const error = await openAiError(openai.raw("POST", "/embeddings", { model: server.model.name }));
    expect(error.status).toBe(400);
    expect(error.body.error.message).toBe(
      "malformed request: input: input is required: a string or a list of strings",
    );
  });

  it.each([
    ["a dimensions of the wrong type", { input: "hi", dimensions: "64" }, "dimensions"],
    ["an unknown encoding_format", { input: "hi", encoding_format: "int8" }, "encoding_format"],
    ["a model of the wrong type", { input: "hi", model: 5 }, "model"],
    ["an input of the wrong type", { input: 5 }, "input"],
    ["a list input holding an unpaired surrogate", { input: ["ok", "caf\udce9"] }, "input"],
    ["a body that is not an object", ["hi"], null],
  ])("names the field in `param` for %s, as OpenAI does", async (_name, body, param) => {
    const error = await openAiError(openai.raw("POST", "/embeddings", body));
    expect(error.status).toBe(400);
    expect(error.body.error).toMatchObject({ code: "JUDE_SERVING_MALFORMED_REQUEST", param });
  });

  it("refuses more than 2,048 inputs with a clear 400", async () => {
    const error = await openAiError(
      openai.createEmbeddings({ model: server.model.name, input: [...texts, "one more"] }),
    );
    expect(error.status).toBe(400);
    expect(error.body.error).toMatchObject({
      param: "input",
      message: "too many inputs: 2049 in one call, the limit is 2048",
    });
  });
});

describe("a call of more inputs than one Embed call takes, with a bad input late in it", () => {
  /** The batches the server ran so far. */
  const batchesRun = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    return Number(/^jude_serving_inference_duration_seconds_count (\d+)$/m.exec(text)?.[1]);
  };

  it("is refused before any of its inputs is embedded, naming the input", async () => {
    // Embedded in chunks of maxInputsPerCall (128), the chunks before the empty text were computed
    // (1,920 vectors here) and thrown away before the 400.
    const before = await batchesRun();
    // A count that was not found (NaN) would equal itself below, whatever ran.
    expect(before).toBeGreaterThanOrEqual(0);
    const error = await openAiError(
      openai.createEmbeddings({ model: server.model.name, input: [...texts.slice(0, 2_047), ""] }),
    );
    expect(error.status).toBe(400);
    expect(error.body.error).toMatchObject({
      code: "JUDE_SERVING_EMPTY_TEXT",
      param: "input",
      message: "input 2047 is empty: send a text with at least one character",
    });
    expect(await batchesRun()).toBe(before);
  });
});

describe("GET /v1/models", () => {
  it("lists the served model and retrieves it by name", async () => {
    const list = await openai.listModels();
    expect(list).toEqual({
      object: "list",
      data: [{ id: server.model.name, object: "model", created: expect.any(Number), owned_by: "jude" }],
    });
    expect(await openai.raw("GET", `/models/${server.model.name}`)).toEqual(list.data[0]);
    const missing = await openAiError(openai.raw("GET", "/models/gpt-4o"));
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("model_not_found");
  });

  it("retrieves the model under every name it serves, however the id is encoded", async () => {
    const expected = (await openai.listModels()).data[0];
    for (const id of [server.model.name, "2026-11-01", `${server.model.name}:2026-11-01`]) {
      // As the SDKs send it (`:` raw), and with every reserved character escaped.
      expect(await openai.retrieveModel(id), id).toEqual(expected);
      expect(await openai.raw("GET", `/models/${encodeURIComponent(id)}`), id).toEqual(expected);
    }
  });

  it("answers 404 model_not_found for an id with a malformed escape, not an internal error", async () => {
    const error = await openAiError(openai.raw("GET", "/models/%E0%A4%A"));
    expect(error.status).toBe(404);
    expect(error.body.error).toMatchObject({ code: "model_not_found", param: "model" });
    expect(error.body.error.message).toContain('"%E0%A4%A"');
  });
});

describe("OpenAI's error body on every route", () => {
  it.each([
    ["an unknown route", "GET", "/nothing-here", undefined, 404, "not_found"],
    ["a wrong method", "GET", "/embeddings", undefined, 405, "method_not_allowed"],
    ["a body without input", "POST", "/embeddings", { model: "x" }, 400, "JUDE_SERVING_MALFORMED_REQUEST"],
    ["token-id input", "POST", "/embeddings", { input: [[1, 2, 3]] }, 400, "JUDE_SERVING_MALFORMED_REQUEST"],
    ["an empty text", "POST", "/embeddings", { input: [""] }, 400, "JUDE_SERVING_EMPTY_TEXT"],
  ])("%s", async (_name, method, path, body, status, code) => {
    const error = await openAiError(openai.raw(method, path, body));
    expect(error.status).toBe(status);
    expect(error.body).toEqual({
      error: {
        message: expect.any(String),
        type: "invalid_request_error",
        param: expect.toBeOneOf([null, "input"]),
        code,
      },
    });
  });
});

describe("HTTP methods", () => {
  const base = () => `http://127.0.0.1:${server.httpPort}`;

  it("answers HEAD on every GET route as GET, without the body", async () => {
    for (const path of [
      "/health",
      "/healthz",
      "/readyz",
      "/metrics",
      "/info",
      "/v1/models",
      `/v1/models/${server.model.name}`,
    ]) {
      const get = await fetch(`${base()}${path}`);
      const head = await fetch(`${base()}${path}`, { method: "HEAD" });
      expect(head.status, path).toBe(get.status);
      expect(head.headers.get("content-type"), path).toBe(get.headers.get("content-type"));
      expect(await head.text(), path).toBe("");
    }
  });

  it("refuses another method on a probe with 405 and Allow, as on every other route", async () => {
    const health = await fetch(`${base()}/health`, { method: "POST" });
    expect(health.status).toBe(405);
    expect(health.headers.get("allow")).toBe("GET, HEAD");
    expect(await health.json()).toEqual({ error: "/health takes GET, not POST", error_type: "Validation" });
    const metrics = await fetch(`${base()}/metrics`, { method: "DELETE" });
    expect(metrics.status).toBe(405);
    expect(((await metrics.json()) as OpenAiErrorBody).error.code).toBe("method_not_allowed");
    const embeddings = await fetch(`${base()}/v1/embeddings`, { method: "HEAD" });
    expect(embeddings.status).toBe(405);
    expect(embeddings.headers.get("allow")).toBe("POST");
  });
});

it("refuses token-id input (LangChain's default) with a message that says how to send text", async () => {
  // langchain-openai's OpenAIEmbeddings tokenizes with tiktoken and sends the ids by default.
  const error = await openAiError(openai.raw("POST", "/embeddings", { input: [[101, 7592, 102]] }));
  expect(error.status).toBe(400);
  expect(error.body.error.message).toContain("check_embedding_ctx_length=False");
});

describe("overload", () => {
  let small: EmbeddingServer;
  beforeAll(async () => {
    small = await startServer({ batching: { maxConcurrentRequests: 2 }, limits: { maxInputsPerCall: 2 } });
  });
  afterAll(() => small?.close());

  it("answers 429 with OpenAI's rate_limit_error and TEI's Overloaded, and Retry-After", async () => {
    const long = texts[0]!.repeat(4);
    const client = new OpenAiClient(`http://127.0.0.1:${small.httpPort}/v1`);
    const tei = new TeiHttpClient(`http://127.0.0.1:${small.httpPort}`);
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 30 }, () =>
        client.createEmbeddings({ model: small.model.name, input: [long, long] }),
      ),
      ...Array.from({ length: 30 }, () => tei.embed({ inputs: [long, long], truncate: true })),
    ]);
    const errors = outcomes.flatMap((outcome) =>
      outcome.status === "rejected" ? [outcome.reason as unknown] : [],
    );
    const openAiOverload = errors.find((error) => error instanceof OpenAiApiError);
    const teiOverload = errors.find((error) => error instanceof TeiHttpError);
    expect(openAiOverload).toMatchObject({
      status: 429,
      body: { error: { type: "rate_limit_error", code: "JUDE_SERVING_OVERLOADED", param: null } },
    });
    expect(teiOverload).toMatchObject({ status: 429, body: { error_type: "Overloaded" } });
    expect(outcomes.some((outcome) => outcome.status === "fulfilled")).toBe(true);
  });
});
