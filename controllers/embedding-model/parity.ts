// The parity comparison, pure: a recomputed vector matches a stored one when both come from the
// version's model (digests), have the model's dimensions, the stored one has unit norm when the model
// normalises, and their cosine is at least parityMinCosine.
import { parityMinCosine, type ParityObservation } from "./promotion-gates.ts";

/** One sampled key: its stored vector and the one its text re-embeds to now. */
export interface ParitySample {
  key: string;
  stored: Float32Array;
  storedDigest: string;
  recomputed: Float32Array;
  serverDigest: string;
}

/** Norms of normalised vectors stored as float16 deviate by about 1e-3; allow a little more. */
const normTolerance = 5e-3;

/** Compares every sample; the first mismatch is described. */
export function compareVectors(
  samples: readonly ParitySample[],
  expected: { modelDigest: string; dimensions: number; normalized: boolean },
): ParityObservation {
  let matched = 0;
  let minCosine: number | undefined;
  let firstMismatch: string | undefined;
  for (const sample of samples) {
    const cosine = cosineOf(sample.stored, sample.recomputed);
    minCosine = Math.min(minCosine ?? Infinity, cosine);
    const problem = mismatch(sample, cosine, expected);
    if (problem === undefined) matched += 1;
    else firstMismatch ??= `${sample.key}: ${problem}`;
  }
  return {
    sampled: samples.length,
    matched,
    ...(minCosine !== undefined && Number.isFinite(minCosine) ? { minCosine } : {}),
    ...(firstMismatch !== undefined ? { firstMismatch } : {}),
  };
}

function mismatch(
  sample: ParitySample,
  cosine: number,
  expected: { modelDigest: string; dimensions: number; normalized: boolean },
): string | undefined {
  if (sample.serverDigest !== expected.modelDigest)
    return `the server answers with model ${sample.serverDigest}, the version is ${expected.modelDigest}`;
  if (sample.storedDigest !== expected.modelDigest)
    return `stored vector carries model ${sample.storedDigest}, the version is ${expected.modelDigest}`;
  if (sample.stored.length !== expected.dimensions || sample.recomputed.length !== expected.dimensions)
    return `dimensions stored ${sample.stored.length}, recomputed ${sample.recomputed.length}, model ${expected.dimensions}`;
  const norm = Math.sqrt(dot(sample.stored, sample.stored));
  if (expected.normalized && Math.abs(norm - 1) > normTolerance)
    return `stored norm ${norm.toFixed(4)}, expected 1`;
  if (!(cosine >= parityMinCosine)) return `cosine ${cosine.toFixed(5)} < ${parityMinCosine}`;
  return undefined;
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let index = 0; index < Math.min(a.length, b.length); index++) sum += a[index]! * b[index]!;
  return sum;
}

function cosineOf(a: Float32Array, b: Float32Array): number {
  const denominator = Math.sqrt(dot(a, a) * dot(b, b));
  return denominator === 0 ? 0 : dot(a, b) / denominator;
}
