/**
 * Freshness (a change's event time -> its store write acknowledged) over the last minute, as a small
 * mergeable sketch. Each worker keeps one and shows it on /readyz; the operator adds up the sketches
 * of a version's workers and writes their 95th percentile to NearlinePipeline
 * `status.versions[].freshnessP95Ms`, where the promotion gate, the quickstart and the dashboard read it.
 *
 * Why a sketch and not each worker's p95: percentiles do not add up (the p95 of two workers is not any
 * function of their two p95s), while bucket counts do. Buckets grow geometrically by `gamma` (the
 * DDSketch idea), so any quantile comes back within ±1% of a true sample value, whatever the range
 * (1 ms to hours), in a few hundred buckets at most. The Prometheus histogram on /metrics stays the
 * long-term series; its fixed buckets are too coarse for a status figure and count since start.
 */

/** Ratio between consecutive bucket bounds: a quantile is within (gamma-1)/(gamma+1) ≈ 1% of a sample. */
export const sketchGamma = 1.02;
const logGamma = Math.log(sketchGamma);

/** Counts per bucket index; bucket 0 holds [0, 1] ms, bucket i > 0 holds (gamma^(i-1), gamma^i] ms. */
export interface FreshnessSketch {
  /** The gamma the indexes were computed with; sketches of another gamma do not merge. */
  gamma: number;
  /** How far back the samples reach (ms). */
  windowMs: number;
  /** Bucket index -> samples (sparse; JSON object keys are the indexes). */
  buckets: Record<string, number>;
}

/** The bucket index of a freshness in milliseconds (negatives, from clock skew, count as 0). */
export function bucketOf(ms: number): number {
  return ms <= 1 ? 0 : Math.ceil(Math.log(ms) / logGamma);
}

/** The value a bucket stands for: the point of least relative error within it. */
export function bucketValue(index: number): number {
  return index <= 0 ? 1 : (2 * sketchGamma ** index) / (sketchGamma + 1);
}

/** Samples in a sketch. */
export function sampleCount(sketch: FreshnessSketch): number {
  return Object.values(sketch.buckets).reduce((total, count) => total + count, 0);
}

/**
 * The `q` quantile (0 < q <= 1) by the nearest-rank method: the value of the bucket holding the
 * ceil(q·n)-th smallest sample. Undefined for an empty sketch.
 */
export function quantileOf(sketch: FreshnessSketch, q: number): number | undefined {
  const entries = Object.entries(sketch.buckets)
    .map(([index, count]) => [Number(index), count] as const)
    .filter(([, count]) => count > 0)
    .sort(([a], [b]) => a - b);
  const total = entries.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [index, count] of entries) {
    seen += count;
    if (seen >= rank) return bucketValue(index);
  }
  return bucketValue(entries.at(-1)![0]);
}

/** The sum of sketches of the same gamma (e.g. every worker of one version); others are left out. */
export function mergeSketches(sketches: readonly FreshnessSketch[]): FreshnessSketch {
  const merged: FreshnessSketch = { gamma: sketchGamma, windowMs: 0, buckets: {} };
  for (const sketch of sketches) {
    if (sketch.gamma !== sketchGamma) continue;
    merged.windowMs = Math.max(merged.windowMs, sketch.windowMs);
    for (const [index, count] of Object.entries(sketch.buckets))
      merged.buckets[index] = (merged.buckets[index] ?? 0) + count;
  }
  return merged;
}

/**
 * Samples of the last `windowMs`, kept in `slices` rotating sub-windows so old samples fall out
 * without storing each one: a snapshot covers between windowMs and windowMs·(1 + 1/slices) of history.
 * Memory is bounded by the bucket count, not the event rate.
 */
export class FreshnessWindow {
  readonly #windowMs: number;
  readonly #sliceMs: number;
  /** Slice start (ms, a multiple of sliceMs) -> bucket counts. */
  readonly #slices = new Map<number, Map<number, number>>();

  constructor(options: { windowMs?: number; slices?: number } = {}) {
    this.#windowMs = options.windowMs ?? 60_000;
    this.#sliceMs = Math.ceil(this.#windowMs / (options.slices ?? 6));
  }

  /** Records one freshness sample (ms) observed at `nowMs`. */
  observe(freshnessMs: number, nowMs = Date.now()): void {
    const start = nowMs - (nowMs % this.#sliceMs);
    let slice = this.#slices.get(start);
    if (slice === undefined) {
      this.#evict(nowMs);
      slice = new Map();
      this.#slices.set(start, slice);
    }
    const index = bucketOf(freshnessMs);
    slice.set(index, (slice.get(index) ?? 0) + 1);
  }

  /** The samples of the window ending at `nowMs`. */
  snapshot(nowMs = Date.now()): FreshnessSketch {
    this.#evict(nowMs);
    const buckets: Record<string, number> = {};
    for (const slice of this.#slices.values())
      for (const [index, count] of slice) buckets[index] = (buckets[index] ?? 0) + count;
    return { gamma: sketchGamma, windowMs: this.#windowMs, buckets };
  }

  /** Drops slices that ended before the window (the current slice always stays). */
  #evict(nowMs: number): void {
    const oldest = nowMs - this.#windowMs;
    for (const start of this.#slices.keys()) if (start + this.#sliceMs <= oldest) this.#slices.delete(start);
  }
}
