/**
 * An in-process embedding call on the testbed's real model (all-MiniLM-L6-v2 in ONNX Runtime with its
 * tokenizer: mean pooling over the attention mask, L2 normalisation), for tests that need real vectors
 * and must count inference exactly at the `EmbedCall` boundary without a server in between.
 */
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import type { EmbedCall } from "../../../pipelines/shared/embedding.ts";
import { loadTokenizer } from "../../../serving/tokenizer/tokenizer.ts";
import { requireEnv } from "../../support/env.ts";

/** The model's output width. */
export const MODEL_DIMENSIONS = 384;
const MAX_SEQUENCE_LENGTH = 256;

/** A loaded model; `embed` runs one padded batch per call. */
export interface OnnxEmbedder {
  readonly embed: EmbedCall;
  close(): Promise<void>;
}

/** Loads the testbed model (JUDE_MODEL_DIR). */
export async function loadOnnxEmbedder(options: { threads?: number } = {}): Promise<OnnxEmbedder> {
  const modelDir = requireEnv("JUDE_MODEL_DIR");
  const session = await ort.InferenceSession.create(join(modelDir, "model.onnx"), {
    intraOpNumThreads: options.threads ?? 2,
    interOpNumThreads: 1,
  });
  const tokenizer = await loadTokenizer(join(modelDir, "tokenizer.json"));
  const embed: EmbedCall = async (texts) => {
    const encodings = texts.map(
      (text) => tokenizer.encode(text, { maxLength: MAX_SEQUENCE_LENGTH, truncate: true }).ids,
    );
    const width = Math.max(1, ...encodings.map((ids) => ids.length));
    const ids = new BigInt64Array(texts.length * width);
    const mask = new BigInt64Array(texts.length * width);
    encodings.forEach((encoding, row) => {
      encoding.forEach((id, column) => {
        ids[row * width + column] = BigInt(id);
        mask[row * width + column] = 1n;
      });
    });
    const shape = [texts.length, width];
    const output = await session.run({
      input_ids: new ort.Tensor("int64", ids, shape),
      attention_mask: new ort.Tensor("int64", mask, shape),
      token_type_ids: new ort.Tensor("int64", new BigInt64Array(ids.length), shape),
    });
    const hidden = output.last_hidden_state!.data as Float32Array;
    return encodings.map((encoding, row) => meanPoolNormalized(hidden, row, width, encoding.length));
  };
  return { embed, close: () => session.release() };
}

function meanPoolNormalized(hidden: Float32Array, row: number, width: number, length: number): Float32Array {
  const vector = new Float32Array(MODEL_DIMENSIONS);
  const base = row * width * MODEL_DIMENSIONS;
  for (let token = 0; token < length; token++) {
    const offset = base + token * MODEL_DIMENSIONS;
    for (let d = 0; d < MODEL_DIMENSIONS; d++) vector[d]! += hidden[offset + d]!;
  }
  let norm = 0;
  for (let d = 0; d < MODEL_DIMENSIONS; d++) norm += vector[d]! * vector[d]!;
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let d = 0; d < MODEL_DIMENSIONS; d++) vector[d] = vector[d]! * scale;
  return vector;
}

/** Wraps an embed call and records every text that reached it. */
export function countingEmbed(inner: EmbedCall): { embed: EmbedCall; texts: string[]; calls: () => number } {
  const texts: string[] = [];
  let calls = 0;
  return {
    texts,
    calls: () => calls,
    embed: async (batch, signal) => {
      const vectors = await inner(batch, signal);
      calls++;
      texts.push(...batch);
      return vectors;
    },
  };
}
