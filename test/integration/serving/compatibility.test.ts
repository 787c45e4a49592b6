/**
 * The same vectors through every door: jude.embedding.v1 Embed and EmbedStream, a TEI client of
 * tei.v1 (Embed, EmbedStream, Info), and an OpenAI-style HTTP call.
 */
import { credentials, type Client, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { loadProtos } from "../../../serving/transport/proto.ts";
import { cosine, readReference, startServer } from "./helpers.ts";

let server: EmbeddingServer;
let client: EmbeddingClient;
let texts: string[];
let expected: Float32Array[];

beforeAll(async () => {
  server = await startServer({ prompts: { query: "query: " } });
  client = new EmbeddingClient({ address: `127.0.0.1:${server.grpcPort}` });
  texts = (await readReference()).items.slice(0, 6).map((item) => item.text);
  expected = (await client.embed(texts, { truncate: true })).vectors;
});
afterAll(async () => {
  client.close();
  await server.close();
});

/** Vectors computed in different batches may differ in the last float bits, never more. */
function expectSameVector(actual: ArrayLike<number>, reference: Float32Array): void {
  expect(actual.length).toBe(reference.length);
  expect(cosine(actual, reference)).toBeGreaterThan(0.99999);
  for (let index = 0; index < reference.length; index++)
    expect(Math.abs((actual[index] ?? 0) - (reference[index] ?? 0))).toBeLessThan(1e-5);
}

function teiClient(
  service: "teiEmbed" | "teiInfo",
): Client & Record<string, (...args: unknown[]) => unknown> {
  const Constructor = loadProtos()[service];
  return new Constructor(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure()) as never;
}

function unary<T>(
  client: Client & Record<string, (...args: unknown[]) => unknown>,
  method: string,
  request: unknown,
): Promise<T> {
  return new Promise((resolve, reject) =>
    client[method]?.(request, (error: ServiceError | null, response: T) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

describe("text-embeddings-inference tei.v1", () => {
  it("Embed returns the same vectors as jude Embed, with TEI metadata", async () => {
    const tei = teiClient("teiEmbed");
    try {
      for (const [index, text] of texts.entries()) {
        const response = await unary<{
          embeddings: number[];
          metadata: { computeTokens: number; computeChars: number };
        }>(tei, "Embed", { inputs: text, truncate: true });
        expectSameVector(response.embeddings, expected[index]!);
        expect(response.metadata.computeChars).toBe([...text].length);
        expect(response.metadata.computeTokens).toBeGreaterThan(2);
      }
    } finally {
      tei.close();
    }
  });

  it("EmbedStream answers in request order", async () => {
    const tei = teiClient("teiEmbed");
    try {
      const stream = (
        tei.EmbedStream as () => NodeJS.ReadWriteStream & { end(): void; write(message: unknown): void }
      )();
      const answers: number[][] = [];
      const done = new Promise<void>((resolve, reject) => {
        stream.on("data", (message: { embeddings: number[] }) => answers.push(message.embeddings));
        stream.on("end", resolve);
        stream.on("error", reject);
      });
      for (const text of texts) stream.write({ inputs: text, truncate: true });
      stream.end();
      await done;
      answers.forEach((vector, index) => expectSameVector(vector, expected[index]!));
      expect(answers).toHaveLength(texts.length);
    } finally {
      tei.close();
    }
  });

  it("Info describes the model in TEI's terms", async () => {
    const tei = teiClient("teiInfo");
    try {
      expect(await unary(tei, "Info", {})).toMatchObject({
        modelId: server.model.name,
        modelSha: server.model.digest,
        modelDtype: "float32",
        modelType: "MODEL_TYPE_EMBEDDING",
        maxInputLength: 256,
      });
    } finally {
      tei.close();
    }
  });
});

describe("OpenAI-compatible POST /v1/embeddings", () => {
  it("returns the same vectors as jude Embed, as floats and as base64", async () => {
    for (const encoding_format of ["float", "base64"] as const) {
      const response = await fetch(`http://127.0.0.1:${server.httpPort}/v1/embeddings`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: server.model.name, input: texts, encoding_format, truncate: true }),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as {
        object: string;
        model: string;
        data: Array<{ object: string; index: number; embedding: number[] | string }>;
        usage: { prompt_tokens: number; total_tokens: number };
      };
      expect(body).toMatchObject({ object: "list", model: server.model.name });
      expect(body.usage.prompt_tokens).toBeGreaterThan(texts.length * 2);
      body.data.forEach((item, index) => {
        expect(item).toMatchObject({ object: "embedding", index });
        const vector =
          typeof item.embedding === "string"
            ? new Float32Array(new Uint8Array(Buffer.from(item.embedding, "base64")).buffer)
            : item.embedding;
        expectSameVector(vector, expected[index]!);
      });
    }
  });
});

describe("jude EmbedStream", () => {
  it("answers each request with its own vectors and reports a bad request in-stream", async () => {
    const stream = client.stream();
    const [first, bad, second] = await Promise.allSettled([
      stream.embed(texts.slice(0, 3), { truncate: true }),
      stream.embed([{ text: "x", promptName: "nope" }]),
      stream.embed(texts.slice(3), { truncate: true }),
    ]);
    stream.close();
    expect(first.status === "fulfilled" && second.status === "fulfilled").toBe(true);
    const vectors = [
      ...(first.status === "fulfilled" ? first.value.vectors : []),
      ...(second.status === "fulfilled" ? second.value.vectors : []),
    ];
    vectors.forEach((vector, index) => expectSameVector(vector, expected[index]!));
    expect(bad).toMatchObject({
      status: "rejected",
      reason: { statusName: "INVALID_ARGUMENT", errorCode: "JUDE_SERVING_UNKNOWN_PROMPT" },
    });
  });

  it("applies prompt names and reports the model identity with every answer", async () => {
    const [plain, prompted] = await Promise.all([
      client.embed(["query: what is kafka"]),
      client.embed([{ text: "what is kafka", promptName: "query" }]),
    ]);
    expectSameVector(prompted.vectors[0]!, plain.vectors[0]!);
    expect(prompted.model).toEqual({
      name: server.model.name,
      version: server.model.version,
      digest: server.model.digest,
    });
    expect(prompted.timings.totalNs).toBeGreaterThan(0);
  });
});

describe("jude Embed options", () => {
  it("skips normalisation when asked and cuts dimensions before normalising", async () => {
    const [raw, cut] = await Promise.all([
      client.embed([texts[0]!], { normalize: false }),
      client.embed([texts[0]!], { dimensions: 64 }),
    ]);
    const norm = Math.hypot(...raw.vectors[0]!);
    expect(norm).toBeGreaterThan(1.5); // mean-pooled MiniLM vectors are far from unit length
    expectSameVector(
      raw.vectors[0]!.map((value) => value / norm),
      expected[0]!,
    );
    expect(cut.vectors[0]).toHaveLength(64);
    expect(cut.dimensions).toBe(64);
    expect(Math.hypot(...cut.vectors[0]!)).toBeCloseTo(1, 5);
  });
});
