import { endianness } from "node:os";

/** The padded int64 model inputs of one batch. */
export interface PackedBatch {
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds: BigInt64Array;
  batch: number;
  sequenceLength: number;
  lengths: Int32Array;
}

const littleEndian = endianness() === "LE";

/**
 * Right-pads a batch of token id sequences into [batch, longest] int64 tensors. Writes the low 32-bit
 * words through an Int32Array view instead of creating a BigInt per element, which makes packing a
 * 64 x 256 batch take microseconds; ids and masks are small non-negative numbers, so the high words
 * stay zero.
 */
export function packBatch(inputs: readonly Int32Array[]): PackedBatch {
  const batch = inputs.length;
  const sequenceLength = inputs.reduce((longest, ids) => Math.max(longest, ids.length), 0);
  const inputIds = new BigInt64Array(batch * sequenceLength);
  const attentionMask = new BigInt64Array(batch * sequenceLength);
  const tokenTypeIds = new BigInt64Array(batch * sequenceLength);
  const lengths = new Int32Array(batch);
  const idWords = new Int32Array(inputIds.buffer);
  const maskWords = new Int32Array(attentionMask.buffer);
  inputs.forEach((ids, row) => {
    lengths[row] = ids.length;
    const rowStart = row * sequenceLength;
    for (let position = 0; position < ids.length; position++) {
      if (littleEndian) {
        idWords[(rowStart + position) * 2] = ids[position] ?? 0;
        maskWords[(rowStart + position) * 2] = 1;
      } else {
        inputIds[rowStart + position] = BigInt(ids[position] ?? 0);
        attentionMask[rowStart + position] = 1n;
      }
    }
  });
  return { inputIds, attentionMask, tokenTypeIds, batch, sequenceLength, lengths };
}

/** Concatenates token id sequences into one buffer (for a cheap transfer to the inference thread). */
export function concatInputs(inputs: readonly Int32Array[]): { ids: Int32Array; lengths: Int32Array } {
  const lengths = Int32Array.from(inputs, (ids) => ids.length);
  const ids = new Int32Array(lengths.reduce((sum, length) => sum + length, 0));
  let offset = 0;
  for (const input of inputs) {
    ids.set(input, offset);
    offset += input.length;
  }
  return { ids, lengths };
}

/** The inverse of `concatInputs`: views into the concatenated buffer, no copies. */
export function splitInputs(ids: Int32Array, lengths: Int32Array): Int32Array[] {
  const inputs: Int32Array[] = [];
  let offset = 0;
  for (const length of lengths) {
    inputs.push(ids.subarray(offset, offset + length));
    offset += length;
  }
  return inputs;
}
