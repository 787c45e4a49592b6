/**
 * Value encodings of the store (see the README, "Store layout" > "Values"). Two encodings:
 *
 * - the data payload, read by ranking services: an ASCII header line `J1 <dtype> <dim> <modelDigest>\n`
 *   followed by the vector as little-endian float32 (`f32`) or float16 (`f16`) bytes. One HGET gives a
 *   reader everything it returns, and the header is trivial to parse in any language.
 * - the ordering metadata, read by the conditional-write script and by change detection:
 *   `<L|D>|<eventTimeMs>|<offset>|<partition>|<contentHash>` (L = live, D = tombstone).
 */

import { StoreError, StoreErrorCodes, invalidArgument } from "./errors.ts";
import { fromFloat16Bits, toFloat16Bits } from "./float16.ts";
import type { Position } from "./ordering.ts";
import { assertPosition } from "./ordering.ts";

/** Element type of stored vectors. */
export type VectorDtype = "f32" | "f16";

const dtypeBytes: Record<VectorDtype, number> = { f32: 4, f16: 2 };
const payloadMagic = "J1";
const digestPattern = /^[A-Za-z0-9:._+/=-]{1,128}$/;
const contentHashPattern = /^[A-Za-z0-9:._+/=-]{0,128}$/;
/** Largest vector dimension accepted; far above any text-embedding model, small enough to bound memory. */
export const MAX_DIMENSION = 65536;

/** A decoded data payload. */
export interface VectorPayload {
  readonly vector: Float32Array;
  readonly dtype: VectorDtype;
  readonly modelDigest: string;
}

/** Decoded ordering metadata of one record. */
export interface RecordMeta extends Position {
  readonly live: boolean;
  readonly partition: number;
  /** Content hash of the text the vector was computed from; empty for tombstones. */
  readonly contentHash: string;
}

/** Throws INVALID_ARGUMENT unless `dtype` is a supported vector element type. */
export function assertDtype(dtype: string): asserts dtype is VectorDtype {
  if (dtype !== "f32" && dtype !== "f16")
    throw invalidArgument(`vector dtype must be f32 or f16, got ${dtype}`);
}

/** Throws INVALID_ARGUMENT unless `digest` is a model digest without spaces or separators. */
export function assertModelDigest(digest: string): void {
  if (typeof digest !== "string" || !digestPattern.test(digest)) {
    throw invalidArgument(`model digest ${JSON.stringify(digest)} must match ${digestPattern.source}`);
  }
}

/** Throws INVALID_ARGUMENT unless `hash` is a (possibly empty) content hash of a safe alphabet. */
export function assertContentHash(hash: string): void {
  if (typeof hash !== "string" || !contentHashPattern.test(hash)) {
    throw invalidArgument(`content hash ${JSON.stringify(hash)} must match ${contentHashPattern.source}`);
  }
}

/** Encodes a vector as little-endian bytes of the given dtype. Rejects empty and non-finite vectors. */
export function encodeVector(vector: ArrayLike<number>, dtype: VectorDtype): Buffer {
  assertDtype(dtype);
  if (vector.length === 0 || vector.length > MAX_DIMENSION) {
    throw invalidArgument(`vector dimension must be in 1..${MAX_DIMENSION}, got ${vector.length}`);
  }
  const bytes = Buffer.allocUnsafe(vector.length * dtypeBytes[dtype]);
  for (let i = 0; i < vector.length; i++) {
    const value = vector[i] as number;
    if (!Number.isFinite(value)) throw invalidArgument(`vector element ${i} is not finite`);
    if (dtype === "f32") bytes.writeFloatLE(value, i * 4);
    else bytes.writeUInt16LE(toFloat16Bits(value), i * 2);
  }
  return bytes;
}

/** Decodes little-endian vector bytes into a fresh Float32Array. */
export function decodeVector(bytes: Uint8Array, dtype: VectorDtype, dim: number): Float32Array {
  const size = dtypeBytes[dtype];
  if (bytes.length !== dim * size) {
    throw corrupt(`vector has ${bytes.length} bytes, expected ${dim} x ${size}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vector = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    vector[i] = dtype === "f32" ? view.getFloat32(i * 4, true) : fromFloat16Bits(view.getUint16(i * 2, true));
  }
  return vector;
}

/** Builds the data payload `J1 <dtype> <dim> <digest>\n<bytes>`. */
export function encodePayload(vector: ArrayLike<number>, dtype: VectorDtype, modelDigest: string): Buffer {
  assertModelDigest(modelDigest);
  const bytes = encodeVector(vector, dtype);
  const header = Buffer.from(`${payloadMagic} ${dtype} ${vector.length} ${modelDigest}\n`, "latin1");
  return Buffer.concat([header, bytes]);
}

/** Parses a data payload; throws CORRUPT_RECORD when it does not follow the layout. */
export function decodePayload(payload: Uint8Array): VectorPayload {
  const newline = payload.indexOf(0x0a);
  if (newline === -1 || newline > 200) throw corrupt("payload has no header line");
  const header = Buffer.from(payload.buffer, payload.byteOffset, newline).toString("latin1").split(" ");
  const [magic, dtype, dimText, modelDigest] = header;
  if (header.length !== 4 || magic !== payloadMagic || modelDigest === undefined || dimText === undefined) {
    throw corrupt(`payload header ${JSON.stringify(header.join(" "))} is not "J1 <dtype> <dim> <digest>"`);
  }
  if (dtype !== "f32" && dtype !== "f16") throw corrupt(`payload dtype ${dtype} is unknown`);
  const dim = Number(dimText);
  if (!Number.isInteger(dim) || dim < 1 || dim > MAX_DIMENSION) throw corrupt(`payload dimension ${dimText}`);
  const bytes = payload.subarray(newline + 1);
  return { vector: decodeVector(bytes, dtype, dim), dtype, modelDigest };
}

/** Encodes ordering metadata: `<L|D>|<eventTimeMs>|<offset>|<partition>|<contentHash>`. */
export function encodeMeta(meta: RecordMeta): string {
  assertPosition(meta);
  if (!Number.isSafeInteger(meta.partition) || meta.partition < -1) {
    throw invalidArgument(`partition must be an integer >= -1, got ${meta.partition}`);
  }
  assertContentHash(meta.contentHash);
  return `${meta.live ? "L" : "D"}|${meta.eventTimeMs}|${meta.offset}|${meta.partition}|${meta.contentHash}`;
}

/** Parses ordering metadata; throws CORRUPT_RECORD when malformed. */
export function decodeMeta(text: string): RecordMeta {
  const match = /^([LD])\|(\d+)\|(\d+)\|(-?\d+)\|(.*)$/.exec(text);
  if (!match) throw corrupt(`record metadata ${JSON.stringify(text.slice(0, 80))} is malformed`);
  const [, flag, eventTime, offset, partition, contentHash] = match;
  return {
    live: flag === "L",
    eventTimeMs: Number(eventTime),
    offset: Number(offset),
    partition: Number(partition),
    contentHash: contentHash ?? "",
  };
}

function corrupt(message: string): StoreError {
  return new StoreError(StoreErrorCodes.CORRUPT_RECORD, message);
}
