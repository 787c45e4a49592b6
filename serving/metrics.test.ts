// The request-duration histogram can tell a p95 under the 300 ms per-call target (DESIGN.md) from one
// over it, read the way the dashboard reads it: histogram_quantile, linear within a bucket.
import { describe, expect, it } from "vitest";
import { createServingMetrics } from "./metrics.ts";

/** Prometheus's histogram_quantile over cumulative buckets (upper bound -> count), linear within a bucket. */
function histogramQuantile(quantile: number, buckets: Array<[number, number]>): number {
  const total = buckets.at(-1)![1];
  const rank = quantile * total;
  let previous: [number, number] = [0, 0];
  for (const [bound, count] of buckets) {
    if (count >= rank)
      return previous[0] + ((rank - previous[1]) / (count - previous[1])) * (bound - previous[0]);
    previous = [bound, count];
  }
  return previous[0];
}

/** The p95 the dashboard shows after these call durations (seconds). */
async function dashboardP95(durations: number[]): Promise<number> {
  const metrics = createServingMetrics({ inFlight: () => 0, inFlightCalls: () => 0 });
  for (const seconds of durations)
    metrics.requestDuration.observe({ transport: "grpc", method: "Embed" }, seconds);
  const text = await metrics.registry.metrics();
  const buckets = [
    ...text.matchAll(/^jude_serving_request_duration_seconds_bucket\{le="([0-9.]+)"[^}]*\} (\d+)$/gm),
  ].map(([, bound, count]) => [Number(bound), Number(count)] as [number, number]);
  expect(buckets.length).toBeGreaterThan(5);
  return histogramQuantile(0.95, buckets);
}

describe("jude_serving_request_duration_seconds around the 300 ms p95 target", () => {
  it("reads a p95 of 0.26 s as under the target", async () => {
    const p95 = await dashboardP95([...Array<number>(90).fill(0.1), ...Array<number>(10).fill(0.26)]);
    expect(p95).toBeLessThan(0.3);
  });

  it("reads a p95 of 0.34 s as over the target", async () => {
    const p95 = await dashboardP95([...Array<number>(90).fill(0.1), ...Array<number>(10).fill(0.34)]);
    expect(p95).toBeGreaterThan(0.3);
  });
});

describe("jude_serving_inference_workers", () => {
  it("reads the live and dead inference workers at scrape time", async () => {
    let workers = { live: 2, dead: 0 };
    const metrics = createServingMetrics({
      inFlight: () => 0,
      inFlightCalls: () => 0,
      inferenceWorkers: () => workers,
    });
    const read = async () =>
      [
        ...(await metrics.registry.metrics()).matchAll(
          /^jude_serving_inference_workers\{state="(\w+)"\} (\d+)$/gm,
        ),
      ]
        .map(([, state, value]) => `${state}=${value}`)
        .sort();
    expect(await read()).toEqual(["dead=0", "live=2"]);
    workers = { live: 1, dead: 1 };
    expect(await read()).toEqual(["dead=1", "live=1"]);
  });
});
