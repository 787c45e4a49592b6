/** How token vectors become one sentence vector. */
export type Pooling = "mean" | "cls" | "last-token";

/** The shape of a model's token-level output. */
export interface HiddenStates {
  /** Row-major [batch, sequenceLength, dimensions]. */
  data: Float32Array;
  batch: number;
  sequenceLength: number;
  dimensions: number;
}

/**
 * Pools token vectors into one vector per input. `lengths` are the real (unpadded) token counts; the
 * batch is right-padded, so the attention mask of row r is 1 for the first lengths[r] positions.
 * "mean" averages the real tokens (sentence-transformers' default), "cls" takes the first token,
 * "last-token" the last real one (decoder-style embedding models). Returns [batch, dimensions].
 */
export function poolHiddenStates(
  hidden: HiddenStates,
  lengths: ArrayLike<number>,
  pooling: Pooling,
): Float32Array {
  const { data, batch, sequenceLength, dimensions } = hidden;
  const pooled = new Float32Array(batch * dimensions);
  for (let row = 0; row < batch; row++) {
    const length = Math.min(Math.max(lengths[row] ?? 0, 1), sequenceLength);
    const rowStart = row * sequenceLength * dimensions;
    const out = row * dimensions;
    if (pooling === "cls" || pooling === "last-token") {
      const token = pooling === "cls" ? 0 : length - 1;
      pooled.set(data.subarray(rowStart + token * dimensions, rowStart + (token + 1) * dimensions), out);
      continue;
    }
    // Accumulate in float32 like the upstream PyTorch code, so results match it bit for bit as far
    // as possible; the sum of at most a few thousand tokens stays well within float32 precision.
    for (let token = 0; token < length; token++) {
      const tokenStart = rowStart + token * dimensions;
      for (let dimension = 0; dimension < dimensions; dimension++) {
        pooled[out + dimension] = (pooled[out + dimension] ?? 0) + (data[tokenStart + dimension] ?? 0);
      }
    }
    for (let dimension = 0; dimension < dimensions; dimension++) {
      pooled[out + dimension] = (pooled[out + dimension] ?? 0) / length;
    }
  }
  return pooled;
}

/** Converts IEEE 754 half-precision bits to float32, for models whose outputs are float16. */
export function halfToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let index = 0; index < bits.length; index++) {
    const half = bits[index] ?? 0;
    const sign = half & 0x8000 ? -1 : 1;
    const exponent = (half >> 10) & 0x1f;
    const fraction = half & 0x3ff;
    if (exponent === 0) out[index] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 0x1f) out[index] = fraction === 0 ? sign * Infinity : NaN;
    else out[index] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}
