/**
 * The server against the upstream libraries: token ids from Hugging Face tokenizers and embeddings
 * from sentence-transformers, for every reference text of the testbed.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingClient } from "../../../pipelines/embedding-client/client.ts";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { loadTokenizer } from "../../../serving/tokenizer/tokenizer.ts";
import { cosine, modelDir, readReference, startServer, type Reference } from "./helpers.ts";

let reference: Reference;
beforeAll(async () => {
  reference = await readReference();
});

it("tokenizes every reference text to exactly the upstream ids", async () => {
  const tokenizer = await loadTokenizer(join(modelDir(), "tokenizer.json"));
  const mismatches = reference.items.filter((item) => {
    const ids = tokenizer.encode(item.text, { maxLength: reference.maxSequenceLength, truncate: true }).ids;
    return JSON.stringify(Array.from(ids)) !== JSON.stringify(item.inputIds);
  });
  expect(mismatches.map((item) => item.text)).toEqual([]);
  expect(reference.items.length).toBeGreaterThanOrEqual(200);
});

/** Embeds every reference text through the gRPC API and returns each cosine to the reference. */
async function cosines(server: EmbeddingServer): Promise<number[]> {
  const client = new EmbeddingClient({ address: `127.0.0.1:${server.grpcPort}` });
  try {
    const result: number[] = [];
    for (let start = 0; start < reference.items.length; start += 32) {
      const items = reference.items.slice(start, start + 32);
      const answer = await client.embed(
        items.map((item) => item.text),
        { truncate: true },
      );
      answer.vectors.forEach((vector, index) => result.push(cosine(vector, items[index]?.embedding ?? [])));
      expect(answer.tokenCounts).toEqual(items.map((item) => item.inputIds.length));
    }
    return result;
  } finally {
    client.close();
  }
}

function summary(values: number[]): { min: number; mean: number; below0999: number } {
  return {
    min: Math.min(...values),
    mean: values.reduce((sum, value) => sum + value, 0) / values.length,
    below0999: values.filter((value) => value < 0.999).length,
  };
}

describe.each([
  // fp32 must reproduce sentence-transformers; quantised models are reported, with a floor that
  // catches a broken export or pooling rather than the expected quantisation error.
  { precision: "fp32", minimum: 0.999 },
  { precision: "fp16", minimum: 0.999 },
  { precision: "int8", minimum: 0.95 },
] as const)("$precision model", ({ precision, minimum }) => {
  let server: EmbeddingServer;
  beforeAll(async () => {
    server = await startServer({ model: { precision } });
  });
  afterAll(() => server.close());

  it(`embeds every reference text with cosine >= ${minimum} to sentence-transformers`, async () => {
    const values = await cosines(server);
    const figures = summary(values);
    // Reported for the README: quantised figures are facts about the model, not pass/fail.
    process.stdout.write(
      `reference parity ${precision}: ${JSON.stringify({ texts: values.length, ...figures })}\n`,
    );
    expect(values).toHaveLength(reference.items.length);
    expect(figures.min).toBeGreaterThanOrEqual(minimum);
    if (precision === "int8") expect(figures.mean).toBeGreaterThanOrEqual(0.98);
  });
});
