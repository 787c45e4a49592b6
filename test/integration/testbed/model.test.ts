import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { loadTokenizer, type Tokenizer } from "../../../serving/tokenizer/tokenizer.ts";
import { requireEnv } from "../../support/env.ts";
import { cosine } from "../serving/helpers.ts";

interface Reference {
  maxSequenceLength: number;
  items: { text: string; inputIds: number[]; embedding: number[] }[];
}

/** Mean pooling over the attention mask, then L2 normalisation: what sentence-transformers does for this model. */
function meanPoolNormalized(hidden: Float32Array, length: number, dimensions: number): Float32Array {
  const out = new Float32Array(dimensions);
  for (let token = 0; token < length; token++) {
    for (let d = 0; d < dimensions; d++) out[d]! += hidden[token * dimensions + d]!;
  }
  let norm = 0;
  for (let d = 0; d < dimensions; d++) norm += (out[d]! / length) ** 2;
  norm = Math.sqrt(norm);
  for (let d = 0; d < dimensions; d++) out[d] = out[d]! / length / norm;
  return out;
}

describe("model: the real all-MiniLM-L6-v2 in ONNX with its tokenizer", () => {
  const modelDir = requireEnv("JUDE_MODEL_DIR");
  const reference = JSON.parse(readFileSync(join(modelDir, "reference.json"), "utf8")) as Reference;
  let session: ort.InferenceSession;
  let tokenizer: Tokenizer;

  beforeAll(async () => {
    session = await ort.InferenceSession.create(join(modelDir, "model.onnx"), { intraOpNumThreads: 2 });
    tokenizer = await loadTokenizer(join(modelDir, "tokenizer.json"));
  });

  it("ships reference embeddings for at least 200 texts", () => {
    expect(reference.items.length).toBeGreaterThanOrEqual(200);
  });

  // A spread of kinds: a short title, a long job posting, a resume, non-English, punctuation, empty-ish.
  const picks = [0, 5, 75, 130, 165, 170, 182, 200];
  it.each(picks)("reproduces reference embedding #%i with cosine >= 0.999", async (index) => {
    const item = reference.items[index]!;
    const encoding = tokenizer.encode(item.text, { maxLength: reference.maxSequenceLength, truncate: true });
    expect(Array.from(encoding.ids)).toEqual(item.inputIds);
    const length = encoding.ids.length;
    const ids = BigInt64Array.from(encoding.ids, (id) => BigInt(id));
    const feeds = {
      input_ids: new ort.Tensor("int64", ids, [1, length]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(length).fill(1n), [1, length]),
      token_type_ids: new ort.Tensor("int64", new BigInt64Array(length), [1, length]),
    };
    const output = await session.run(feeds);
    const hidden = output.last_hidden_state!.data as Float32Array;
    const embedding = meanPoolNormalized(hidden, length, 384);
    expect(cosine(embedding, item.embedding)).toBeGreaterThanOrEqual(0.999);
  });
});
