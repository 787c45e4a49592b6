/**
 * Text-embeddings-inference clients, written from TEI's public API descriptions, against the real
 * server: tei.v1 over gRPC (metadata, x-* headers, Info) and TEI's HTTP API (`POST /embed`,
 * `GET /info`, `GET /health`, its error shape and status codes).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { TeiGrpcClient } from "./clients/tei-grpc-client.ts";
import { TeiHttpClient, TeiHttpError } from "./clients/tei-http-client.ts";
import { BATCHING_TOLERANCE, cosine, maxAbsDifference, readReference, startServer } from "./helpers.ts";

const ROCKET = "rocket 🚀🚀 ok"; // 12 code points, 14 UTF-16 units
const MAX_CLIENT_BATCH = 8;
const TIMING_HEADERS = [
  "x-compute-time",
  "x-compute-tokens",
  "x-compute-characters",
  "x-total-time",
  "x-tokenization-time",
  "x-queue-time",
  "x-inference-time",
];

let server: EmbeddingServer;
let grpc: TeiGrpcClient;
let http: TeiHttpClient;
let texts: string[];

beforeAll(async () => {
  process.env.DOCKER_LABEL = "sha-test-label";
  server = await startServer({
    prompts: { query: "query: " },
    limits: { maxInputsPerCall: MAX_CLIENT_BATCH },
  });
  grpc = new TeiGrpcClient(`127.0.0.1:${server.grpcPort}`);
  http = new TeiHttpClient(`http://127.0.0.1:${server.httpPort}`);
  texts = (await readReference()).items.slice(0, 5).map((item) => item.text);
});
afterAll(async () => {
  delete process.env.DOCKER_LABEL;
  grpc?.close();
  await server?.close();
});

function expectTimingHeaders(headers: Record<string, string>, characters: number): void {
  for (const name of TIMING_HEADERS) expect(headers[name], name).toMatch(/^\d+$/);
  expect(headers["x-compute-characters"]).toBe(String(characters));
  expect(Number(headers["x-compute-tokens"])).toBeGreaterThan(2);
}

describe("tei.v1 over gRPC", () => {
  it("counts compute_chars in Unicode code points and sends TEI's x-* headers", async () => {
    const { response, headers } = await grpc.embed({ inputs: ROCKET });
    expect(response.metadata.compute_chars).toBe(12);
    expect(response.embeddings).toHaveLength(384);
    expectTimingHeaders(headers, 12);
  });

  it("fills Info as TEI does", async () => {
    expect(await grpc.info()).toMatchObject({
      model_id: server.model.name,
      model_dtype: "float32",
      model_type: "MODEL_TYPE_EMBEDDING",
      max_client_batch_size: MAX_CLIENT_BATCH,
      tokenization_workers: 1,
      docker_label: "sha-test-label",
      max_input_length: 256,
    });
  });
});

describe("TEI's HTTP API", () => {
  it("POST /embed takes a string or a list and answers one vector per input, with x-* headers", async () => {
    const one = await http.embed({ inputs: ROCKET });
    expect(one.vectors).toHaveLength(1);
    expectTimingHeaders(Object.fromEntries(one.headers), 12);
    const many = await http.embed({ inputs: texts, truncate: true });
    expect(many.vectors).toHaveLength(texts.length);
    const grpcVectors = await Promise.all(
      texts.map(async (inputs) => (await grpc.embed({ inputs, truncate: true })).response.embeddings),
    );
    many.vectors.forEach((vector, index) =>
      expect(maxAbsDifference(vector, grpcVectors[index]!)).toBeLessThanOrEqual(BATCHING_TOLERANCE.fp32),
    );
    expect(Math.hypot(...many.vectors[0]!)).toBeCloseTo(1, 5); // TEI normalises by default
  });

  it("POST / is /embed, as in TEI (huggingface_hub's InferenceClient posts there)", async () => {
    const atRoot = await http.embed({ inputs: texts, truncate: true }, "/");
    const atEmbed = await http.embed({ inputs: texts, truncate: true });
    expect(atRoot.vectors).toHaveLength(texts.length);
    atRoot.vectors.forEach((vector, index) =>
      expect(maxAbsDifference(vector, atEmbed.vectors[index]!)).toBeLessThanOrEqual(BATCHING_TOLERANCE.fp32),
    );
    expectTimingHeaders(Object.fromEntries(atRoot.headers), [...texts.join("")].length);
    const error = await http.embed({ inputs: [] }, "/").catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 400, body: { error: expect.any(String), error_type: "Empty" } });
  });

  it("applies normalize, dimensions, prompt_name and truncation_direction", async () => {
    const [base] = (await http.embed({ inputs: texts[0]! })).vectors;
    const [raw] = (await http.embed({ inputs: texts[0]!, normalize: false })).vectors;
    const norm = Math.hypot(...raw!);
    expect(norm).toBeGreaterThan(1.5);
    expect(cosine(raw!, base!)).toBeGreaterThan(0.999999);
    const [cut] = (await http.embed({ inputs: texts[0]!, dimensions: 64 })).vectors;
    expect(cut).toHaveLength(64);
    const [prompted] = (await http.embed({ inputs: "what is kafka", prompt_name: "query" })).vectors;
    const [prefixed] = (await http.embed({ inputs: "query: what is kafka" })).vectors;
    expect(prompted).toEqual(prefixed);
    const long = `${"alpha ".repeat(300)}omega`;
    const [right] = (await http.embed({ inputs: long, truncate: true })).vectors;
    const [left] = (await http.embed({ inputs: long, truncate: true, truncation_direction: "Left" })).vectors;
    expect(cosine(left!, right!)).toBeLessThan(0.9999);
  });

  it("GET /info and GET /health describe the served model", async () => {
    expect(await http.info()).toMatchObject({
      model_id: server.model.name,
      model_sha: server.model.digest,
      model_dtype: "float32",
      model_type: { embedding: { pooling: "mean" } },
      max_client_batch_size: MAX_CLIENT_BATCH,
      max_input_length: 256,
      tokenization_workers: 1,
      docker_label: "sha-test-label",
    });
    expect(await http.healthy()).toBe(true);
  });

  it.each([
    ["an empty batch", { inputs: [] }, 400, "Empty"],
    ["an empty text", { inputs: "" }, 400, "Empty"],
    ["an empty text in a batch", { inputs: ["x", ""] }, 400, "Empty"],
    [
      "more inputs than max_client_batch_size",
      { inputs: Array.from({ length: MAX_CLIENT_BATCH + 1 }, () => "x") },
      413,
      "Validation",
    ],
    ["an input longer than the model's limit", { inputs: "word ".repeat(400) }, 422, "Validation"],
    ["an unknown prompt name", { inputs: "x", prompt_name: "nope" }, 422, "Validation"],
  ])("answers %s with TEI's status and error body", async (_name, request, status, errorType) => {
    const error = await http.embed(request as never).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TeiHttpError);
    expect((error as TeiHttpError).status).toBe(status);
    expect((error as TeiHttpError).body).toEqual({ error: expect.any(String), error_type: errorType });
  });
});
