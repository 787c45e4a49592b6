import { describe, expect, it } from "vitest";
import {
  bucketOf,
  FreshnessWindow,
  mergeSketches,
  quantileOf,
  sampleCount,
  sketchGamma,
  type FreshnessSketch,
} from "./freshness-sketch.ts";

/** The exact nearest-rank quantile of samples. */
function exactQuantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

function sketchOf(samples: readonly number[]): FreshnessSketch {
  const window = new FreshnessWindow();
  for (const sample of samples) window.observe(sample, 1_000);
  return window.snapshot(1_000);
}

const relativeError = (sketchGamma - 1) / (sketchGamma + 1);

describe("freshness sketch", () => {
  it("returns a p95 within 1% of the exact one over skewed samples from 2 ms to 10 minutes", () => {
    // Log-uniform with a heavy tail (most writes in tens of ms, some stuck behind a retry for minutes),
    // spread by the golden-ratio sequence: deterministic, and no two samples alike.
    const samples = Array.from(
      { length: 5_000 },
      (_, index) => 2 * Math.exp(((index * 0.6180339887) % 1) * Math.log(300_000)),
    );
    for (const q of [0.5, 0.9, 0.95, 0.99, 1]) {
      const exact = exactQuantile(samples, q);
      expect(Math.abs(quantileOf(sketchOf(samples), q)! - exact) / exact).toBeLessThanOrEqual(relativeError);
    }
  });

  it("merges the workers of a version into the p95 of all their samples, not a mix of their p95s", () => {
    const fast = Array.from({ length: 900 }, (_, index) => 100 + (index % 50));
    const slow = Array.from({ length: 100 }, (_, index) => 8_000 + index * 10);
    const merged = mergeSketches([sketchOf(fast), sketchOf(slow)]);
    const exact = exactQuantile([...fast, ...slow], 0.95);
    expect(exact).toBeGreaterThanOrEqual(8_000);
    expect(Math.abs(quantileOf(merged, 0.95)! - exact) / exact).toBeLessThanOrEqual(relativeError);
    // Neither worker's own p95 is it: the slow one's (8.94 s) overstates it by 5%, the fast one's (~150 ms) misses it.
    expect(quantileOf(sketchOf(slow), 0.95)! / exact).toBeGreaterThan(1.04);
    expect(sampleCount(merged)).toBe(1_000);
  });

  it("leaves out sketches of another gamma instead of mixing incompatible buckets", () => {
    const foreign: FreshnessSketch = { gamma: 1.5, windowMs: 60_000, buckets: { "30": 1_000 } };
    const merged = mergeSketches([sketchOf([10, 20]), foreign]);
    expect(sampleCount(merged)).toBe(2);
  });

  it("has no quantile without samples, and counts negative freshness (clock skew) as the smallest", () => {
    expect(quantileOf(sketchOf([]), 0.95)).toBeUndefined();
    expect(bucketOf(-40)).toBe(0);
    expect(quantileOf(sketchOf([-40, -1, 0.5]), 1)).toBe(1);
  });

  it("forgets samples once they are older than the window", () => {
    const window = new FreshnessWindow({ windowMs: 60_000, slices: 6 });
    window.observe(5_000, 0);
    window.observe(50, 30_000);
    expect(sampleCount(window.snapshot(65_000))).toBe(2);
    // The first slice [0, 10 s) ended more than a minute ago: only the 50 ms sample is left.
    expect(sampleCount(window.snapshot(70_000))).toBe(1);
    expect(quantileOf(window.snapshot(70_000), 0.95)).toBeCloseTo(50, -1);
    expect(sampleCount(window.snapshot(100_000))).toBe(0);
  });
});
