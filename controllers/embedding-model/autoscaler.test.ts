// The HPA's pods metrics are served to it by a metrics adapter from what `jude serve` exports: a name
// the server never registers leaves the HPA without a value forever (FailedGetPodsMetric), so every
// metric the autoscaler targets must be a gauge of the server's own registry, reading what it says.
import { describe, expect, it } from "vitest";
import { createServingMetrics } from "../../serving/metrics.ts";
import { autoscalingMetrics, flooredMinReplicas } from "./autoscaler.ts";

describe("the autoscaler's pods metrics", () => {
  const metrics = createServingMetrics({ inFlight: () => 40, inFlightCalls: () => 3 });

  it("are gauges jude serve exports", async () => {
    for (const name of Object.values(autoscalingMetrics)) {
      const metric = metrics.registry.getSingleMetric(name);
      expect(metric, `${name} is not registered by serving/metrics.ts`).toBeDefined();
      expect((await metric!.get()).type).toBe("gauge");
    }
  });

  it("count calls, not inputs, for targetInflightRequests", async () => {
    const value = await metrics.registry.getSingleMetric(autoscalingMetrics.inflightRequests)!.get();
    expect(value.values[0]?.value).toBe(3);
  });
});

describe("the autoscaler's floor while readers move to a version", () => {
  it.each([
    [undefined, 2],
    [1, 2],
    [5, 5],
    [20, 8],
  ])("floor %s gives minReplicas %i (spec 2..8)", (floor, expected) => {
    expect(flooredMinReplicas({ minReplicas: 2, maxReplicas: 8 }, floor)).toBe(expected);
  });
});
