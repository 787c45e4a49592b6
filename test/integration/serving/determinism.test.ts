/**
 * A vector is a function of (text, model version) only: for each precision the server embeds every
 * reference text alone, inside mixed-length batches, and in other orders and batch sizes, and every
 * answer must equal the text's vector computed alone, within the documented tolerance (serving/
 * README.md: batching changes only the order of float additions inside ONNX Runtime's kernels, a few
 * float32 ulps). Change detection, bootstrap dedup, the promotion's parity gate and caches rely on
 * this; with onnxruntime's dynamic int8 quantization the difference was up to 1 - cos = 0.03. Also
 * reports fp16 and int8 against fp32.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddingServer } from "../../../serving/server.ts";
import { TeiHttpClient } from "./clients/tei-http-client.ts";
import { BATCHING_TOLERANCE, cosine, maxAbsDifference, readReference, startServer } from "./helpers.ts";

const precisions = ["fp32", "fp16", "int8"] as const;
type Precision = (typeof precisions)[number];

let texts: string[];
const alone = new Map<Precision, number[][]>();

beforeAll(async () => {
  texts = (await readReference()).items.map((item) => item.text);
});

/** A fixed permutation (a linear congruential shuffle), so a failure reproduces. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const result = [...items];
  let state = seed;
  for (let index = result.length - 1; index > 0; index--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const other = state % (index + 1);
    [result[index], result[other]] = [result[other]!, result[index]!];
  }
  return result;
}

/** Embeds `order` (indexes into texts) in calls of `size` texts; returns vectors by text index. */
async function embedInCalls(
  client: TeiHttpClient,
  order: readonly number[],
  size: number,
): Promise<Map<number, number[]>> {
  const vectors = new Map<number, number[]>();
  for (let start = 0; start < order.length; start += size) {
    const indexes = order.slice(start, start + size);
    const { vectors: answers } = await client.embed({
      inputs: indexes.map((index) => texts[index]!),
      truncate: true,
    });
    indexes.forEach((textIndex, position) => vectors.set(textIndex, answers[position]!));
  }
  return vectors;
}

/** How the vectors compare with those computed alone. */
function compare(reference: readonly number[][], vectors: ReadonlyMap<number, number[]>) {
  let largest = 0;
  let identical = 0;
  let minCosine = 1;
  reference.forEach((expected, index) => {
    const actual = vectors.get(index) ?? [];
    expect(actual).toHaveLength(expected.length);
    const difference = maxAbsDifference(actual, expected);
    largest = Math.max(largest, difference);
    if (difference === 0) identical++;
    minCosine = Math.min(minCosine, cosine(actual, expected));
  });
  return { texts: reference.length, identical, maxAbsDifference: largest, minCosine };
}

describe.each(precisions)("%s model", (precision) => {
  let server: EmbeddingServer;
  let client: TeiHttpClient;
  beforeAll(async () => {
    // Batches of up to 32 inputs: one call of 32 texts of mixed lengths is one padded batch.
    server = await startServer({ model: { precision }, batching: { maxBatchSize: 32 } });
    client = new TeiHttpClient(`http://127.0.0.1:${server.httpPort}`);
  });
  afterAll(() => server.close());

  it("embeds each reference text alone, one call at a time", async () => {
    const vectors: number[][] = [];
    for (const text of texts)
      vectors.push((await client.embed({ inputs: text, truncate: true })).vectors[0]!);
    alone.set(precision, vectors);
    expect(vectors).toHaveLength(texts.length);
  });

  it.each([
    ["in reference order, 32 texts of mixed lengths per batch", 0, 32],
    ["in a shuffled order, 32 per batch", 7, 32],
    ["in another shuffled order, 17 per batch", 11, 17],
    ["in reverse order, 5 per batch", -1, 5],
  ])("gives the same vectors %s", async (name, seed, size) => {
    const reference = alone.get(precision);
    expect(reference).toBeDefined();
    const indexes = texts.map((_, index) => index);
    const order = seed === 0 ? indexes : seed < 0 ? indexes.reverse() : shuffled(indexes, seed);
    const vectors = await embedInCalls(client, order, size);
    expect(vectors.size).toBe(texts.length);
    const figures = compare(reference!, vectors);
    process.stdout.write(`determinism ${precision} ${name}: ${JSON.stringify(figures)}\n`);
    expect(figures.maxAbsDifference).toBeLessThanOrEqual(BATCHING_TOLERANCE[precision]);
  });
});

describe("quantized models against fp32", () => {
  it.each(["fp16", "int8"] as const)(
    "%s: min and mean cosine to fp32 over the reference texts",
    (precision) => {
      const fp32 = alone.get("fp32")!;
      const values = alone.get(precision)!.map((vector, index) => cosine(vector, fp32[index]!));
      const min = Math.min(...values);
      const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
      // Reported for the README; the floors catch a broken export, not the expected quantization error.
      process.stdout.write(`${precision} vs fp32: ${JSON.stringify({ texts: values.length, min, mean })}\n`);
      expect(values).toHaveLength(texts.length);
      expect(min).toBeGreaterThan(precision === "fp16" ? 0.9999 : 0.95);
      expect(mean).toBeGreaterThan(precision === "fp16" ? 0.99999 : 0.98);
    },
  );
});
