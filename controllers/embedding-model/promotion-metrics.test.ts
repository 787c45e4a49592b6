// The chart's alerts read jude_promotion_stalled by (namespace, model, version) and
// jude_bootstrap_failed by (namespace, name, version): the exported series must carry those labels.
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { bootstrapFailedGauge, recordRunFailed } from "../bootstrap-run/run-metrics.ts";
import { promotionMetrics, recordPromotion } from "./promotion-metrics.ts";

describe("promotion and bootstrap metrics", () => {
  it("export the series the alerts select, and drop a model's old versions", async () => {
    const registry = new Registry();
    const metrics = promotionMetrics(registry);
    const model = { namespace: "recs", name: "minilm" };
    await recordPromotion(metrics, model, {
      specVersion: "v2",
      phases: { v1: "Active", v2: "Failed" },
      gates: [{ type: "CoverageMet", state: "Shut", reason: "CoverageBelowGate", message: "", value: 0.5 }],
      stalled: true,
    });
    let text = await registry.metrics();
    expect(text).toContain('jude_promotion_stalled{namespace="recs",model="minilm",version="v2"} 1');
    expect(text).toContain(
      'jude_promotion_gate_value{namespace="recs",model="minilm",version="v2",gate="CoverageMet"} 0.5',
    );
    expect(text).toContain(
      'jude_promotion_phase{namespace="recs",model="minilm",version="v1",phase="Active"} 1',
    );
    await recordPromotion(metrics, model, {
      specVersion: "v3",
      phases: { v3: "Active" },
      gates: [],
      stalled: false,
    });
    text = await registry.metrics();
    expect(text).not.toContain('version="v2"');
    expect(text).toContain('jude_promotion_stalled{namespace="recs",model="minilm",version="v3"} 0');

    const gauge = bootstrapFailedGauge(registry);
    await recordRunFailed(gauge, { namespace: "recs", name: "jobs-v2" }, "v2", true);
    expect(await registry.metrics()).toContain(
      'jude_bootstrap_failed{namespace="recs",name="jobs-v2",version="v2"} 1',
    );
    await recordRunFailed(gauge, { namespace: "recs", name: "jobs-v2" }, undefined, false);
    expect(await registry.metrics()).not.toContain('name="jobs-v2"');
  });
});
